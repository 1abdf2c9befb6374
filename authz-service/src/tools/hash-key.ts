/**
 * DB-less key management: make the `keys:` entry of a state file for a new or given API key.
 *
 *   PORTCULLIS_KEY_PEPPER=... npx tsx authz-service/src/tools/hash-key.ts --id alice-1 --consumer alice >> keys.yaml
 *   printf %s "$KEY" | PORTCULLIS_KEY_PEPPER=... npx tsx authz-service/src/tools/hash-key.ts --stdin --id alice-1 --consumer alice
 *
 * The YAML entry goes to stdout; a generated key goes to stderr, shown once. An existing key is read from
 * stdin, never from the command line, where it would land in shell history and `ps`. The pepper comes from
 * the same environment variables the service reads (PORTCULLIS_KEY_PEPPER or PORTCULLIS_KEY_PEPPER_FILE).
 */
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { parseAuthzConfig } from '../config.js';
import { DEFAULT_KEY_PREFIX, displayPrefix, generateApiKey, inspectApiKey, KeyHasher } from '../credentials/api-key/format.js';
import type { StateInput } from '../state/schema.js';

type KeyInput = NonNullable<StateInput['keys']>[number];

export interface KeyEntryOptions {
  readonly key: string;
  readonly id: string;
  readonly consumerId: string;
  readonly services?: readonly string[];
  readonly scopes?: readonly string[];
  readonly plan?: string;
}

/** The state-file entry for one key: only its hash and display prefix, never the key. */
export function keyEntry(options: KeyEntryOptions, hasher: KeyHasher): KeyInput {
  return {
    id: options.id,
    consumer_id: options.consumerId,
    prefix: displayPrefix(options.key),
    secrets: [{ hash: hasher.hash(options.key) }],
    ...(options.services?.length ? { services: [...options.services] } : {}),
    ...(options.scopes?.length ? { scopes: [...options.scopes] } : {}),
    ...(options.plan ? { plan: options.plan } : {}),
  };
}

const USAGE = `usage: hash-key --id <key-id> --consumer <consumer-id> [--stdin] [--prefix pc] [--service s]... [--scope x]... [--plan p]
  Without --stdin a new key is generated (printed once on stderr). The pepper comes from PORTCULLIS_KEY_PEPPER(_FILE).`;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').trim();
}

export async function main(argv: readonly string[]): Promise<number> {
  let args;
  try {
    args = parseArgs({
      args: [...argv],
      options: {
        id: { type: 'string' },
        consumer: { type: 'string' },
        stdin: { type: 'boolean', default: false },
        prefix: { type: 'string', default: DEFAULT_KEY_PREFIX },
        service: { type: 'string', multiple: true, default: [] },
        scope: { type: 'string', multiple: true, default: [] },
        plan: { type: 'string' },
        help: { type: 'boolean', default: false },
      },
    }).values;
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (args.help || !args.id || !args.consumer) {
    process.stderr.write(`${USAGE}\n`);
    return args.help ? 0 : 2;
  }
  const config = parseAuthzConfig(process.env);
  if (!config.ok) {
    process.stderr.write(`${config.errors.join('\n')}\n`);
    return 2;
  }
  if (!config.config.keyPepper) {
    process.stderr.write('PORTCULLIS_KEY_PEPPER (or PORTCULLIS_KEY_PEPPER_FILE) must be set to the pepper the service uses\n');
    return 2;
  }
  const hasher = new KeyHasher(config.config.keyPepper.reveal());
  let key: string;
  if (args.stdin) {
    key = await readStdin();
    const shape = inspectApiKey(key);
    if (shape.kind !== 'valid') {
      process.stderr.write(`the key on stdin is ${shape.kind === 'bad_checksum' ? 'mistyped (checksum does not match)' : 'not a Portcullis key'}\n`);
      return 1;
    }
  } else {
    try {
      key = generateApiKey(args.prefix).key;
    } catch {
      process.stderr.write('invalid --prefix: lower-case letters and digits, parts joined by "_"\n');
      return 2;
    }
    process.stderr.write(`# API key for ${args.consumer} (shown once, store it now): ${key}\n`);
  }
  const entry = keyEntry(
    { key, id: args.id, consumerId: args.consumer, services: args.service, scopes: args.scope, ...(args.plan ? { plan: args.plan } : {}) },
    hasher,
  );
  process.stdout.write(stringify([entry]));
  return 0;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
