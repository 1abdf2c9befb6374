/**
 * Local master keys for the `local` provider. A key ring is written as entries separated by commas, spaces or
 * newlines (`#` starts a comment line); the FIRST entry is current and wraps new data keys, the others are
 * previous keys kept so older rows still unwrap until `rewrapAll()` has moved them.
 *
 *   PORTCULLIS_MASTER_KEY="2024b:<base64 32 bytes>,2024a:<base64 32 bytes>"
 *
 * An entry without `id:` gets an id derived from the key itself (`k-` + 12 hex of a SHA-256), so it is stable.
 * Rotation without downtime, across several instances: add the new key as a previous key everywhere, then make
 * it current everywhere, run rewrapAll(), and only then drop the old key.
 */
import { createHash } from 'node:crypto';
import { KEY_BYTES } from './aead.js';
import { Redacted } from './secret-value.js';

const KEY_ID = /^[A-Za-z0-9._-]{1,64}$/;
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

export class MasterKeyRing extends Redacted {
  readonly #keys: ReadonlyMap<string, Buffer>;

  constructor(
    readonly currentId: string,
    keys: ReadonlyMap<string, Buffer>,
  ) {
    super();
    if (!keys.has(currentId)) throw new RangeError('the current master key must be in the ring');
    this.#keys = new Map(keys);
  }

  get ids(): readonly string[] {
    return [...this.#keys.keys()];
  }

  key(id: string): Buffer | undefined {
    return this.#keys.get(id);
  }

  current(): Buffer {
    return this.#keys.get(this.currentId)!;
  }
}

/** The id a key gets when it is written without one. */
export function derivedKeyId(key: Buffer): string {
  return 'k-' + createHash('sha256').update('portcullis master key id\0').update(key).digest('hex').slice(0, 12);
}

export type MasterKeyParse = { readonly ring: MasterKeyRing; readonly problems: readonly [] } | { readonly ring?: undefined; readonly problems: readonly string[] };

/** Parse a key ring; problems never quote key material. `source` names where the text came from. */
export function parseMasterKeys(text: string, source: string): MasterKeyParse {
  const entries = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .join('\n')
    .split(/[\s,]+/)
    .filter((entry) => entry !== '');
  const problems: string[] = [];
  const keys = new Map<string, Buffer>();
  if (entries.length === 0) problems.push(`${source} holds no master key`);
  entries.forEach((entry, index) => {
    const where = `${source} entry ${index + 1}`;
    const colon = entry.indexOf(':');
    const encoded = colon < 0 ? entry : entry.slice(colon + 1);
    const explicitId = colon < 0 ? undefined : entry.slice(0, colon);
    if (explicitId !== undefined && !KEY_ID.test(explicitId)) {
      problems.push(`${where}: key ids are 1-64 characters of A-Z a-z 0-9 . _ -`);
      return;
    }
    const key = BASE64.test(encoded) ? Buffer.from(encoded, 'base64') : undefined;
    if (key === undefined || key.length !== KEY_BYTES) {
      problems.push(`${where}: a master key must be ${KEY_BYTES} bytes, base64-encoded${key === undefined ? '' : ` (this one is ${key.length} bytes)`}`);
      return;
    }
    const id = explicitId ?? derivedKeyId(key);
    if (keys.has(id)) {
      problems.push(`${where}: key id '${id}' appears twice`);
      return;
    }
    keys.set(id, key);
  });
  if (problems.length > 0) return { problems };
  return { ring: new MasterKeyRing([...keys.keys()][0]!, keys), problems: [] };
}
