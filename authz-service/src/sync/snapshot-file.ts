/**
 * The replica's last state on disk, to start from when the control plane cannot be reached.
 *
 * Layout (one file, written by us, read by us):
 *
 *   {"portcullis_snapshot":1,"epoch":"…","revision":42,"contact_ms":…,"saved_at":"…",…}   ← header
 *   {"version":1,"revision":42,"plans":[…],"issuers":[…],"services":[…],                   ┐
 *   "consumers":[                                                                            │ a StateSchema
 *   {…consumer…},                                                                            │ document, one
 *   …                                                                                        │ consumer or key
 *   ],                                                                                       │ per line
 *   "keys":[                                                                                 │
 *   {…key…},                                                                                 │
 *   …                                                                                        │
 *   ]}                                                                                       ┘
 *   {"sha256":"…","consumers":N,"keys":M}                                                   ← trailer
 *
 * The lines between header and trailer are a state file as PORTCULLIS_STATE_FILE reads it. The trailer's
 * SHA-256 covers every byte before it: a torn or tampered file is refused whole. Writes go to a temporary
 * file (mode 0600), are fsynced and renamed over the old one, so a crash leaves the old or the new file.
 *
 * Writing reads the live indexes while deltas keep landing (a million keys take a few seconds and must not
 * stall requests). The file is labelled with the revision it started at; every consumer and key in it is
 * that recent or newer, which resuming from that revision makes exact again.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { ReplicaState, catalogFromJson } from './replica-state.js';
import { consumerFromDocument, keyFromDocument, keyToDocument } from './wire.js';

export const SNAPSHOT_FILE_NAME = 'portcullis-state.snapshot';
const FORMAT = 1;
/** Lines per write: big enough to be cheap, small enough to let requests run in between. */
const LINES_PER_WRITE = 2000;

export interface SnapshotHeader {
  readonly epoch: string;
  readonly revision: number;
  /** When the control plane was last heard from, as of saving: staleness continues from here. */
  readonly contactMs: number;
}

export type SnapshotLoad =
  | { readonly kind: 'loaded'; readonly header: SnapshotHeader; readonly state: ReplicaState }
  | { readonly kind: 'missing' }
  | { readonly kind: 'rejected'; readonly problems: readonly string[] };

export function snapshotPath(dir: string): string {
  return join(dir, SNAPSHOT_FILE_NAME);
}

/** Write `state` atomically; resolves once the new file is durable. */
export async function writeSnapshot(dir: string, state: ReplicaState, contactMs: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const target = snapshotPath(dir);
  const temporary = `${target}.${process.pid}.tmp`;
  const handle = await open(temporary, 'w', 0o600);
  const hash = createHash('sha256');
  let buffered: string[] = [];
  const flush = async () => {
    const text = buffered.join('');
    buffered = [];
    hash.update(text);
    await handle.write(text);
  };
  const line = async (text: string) => {
    buffered.push(text, '\n');
    if (buffered.length >= LINES_PER_WRITE * 2) await flush();
  };
  try {
    // the catalog and the revision label are captured before the first await: one consistent starting point
    const revision = state.revision;
    const catalog = state.catalog.spec;
    // the counts are for sizing on load; the trailer has the exact ones
    const sizes = { consumers: state.consumers.size, keys: state.keys.keyCount };
    await line(JSON.stringify({ portcullis_snapshot: FORMAT, epoch: state.epoch, revision, contact_ms: contactMs, saved_at: new Date().toISOString(), ...sizes }));
    const head = JSON.stringify({ version: 1, revision, plans: catalog.plans, issuers: catalog.issuers, services: catalog.services });
    await line(`${head.slice(0, -1)},`);
    await line('"consumers":[');
    let consumers = 0;
    for (const consumer of state.consumers.values()) {
      await line(`${consumers === 0 ? '' : ','}${JSON.stringify(consumer)}`);
      consumers++;
    }
    await line('],');
    await line('"keys":[');
    let keys = 0;
    for (const key of state.keys.export()) {
      await line(`${keys === 0 ? '' : ','}${JSON.stringify(keyToDocument(key))}`);
      keys++;
    }
    await line(']}');
    await flush();
    await handle.write(`${JSON.stringify({ sha256: hash.digest('hex'), consumers, keys })}\n`);
    await handle.sync();
  } catch (error) {
    await handle.close().catch(() => undefined);
    await rm(temporary, { force: true });
    throw error;
  }
  await handle.close();
  await rename(temporary, target);
  // the rename itself must survive a crash
  const directory = await open(dir, 'r');
  try {
    await directory.sync();
  } finally {
    await directory.close();
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** Read, verify and index a snapshot file. Never throws; a bad file is `rejected` with its problems. */
export async function readSnapshot(dir: string): Promise<SnapshotLoad> {
  const path = snapshotPath(dir);
  const input = createReadStream(path, { encoding: 'utf8', highWaterMark: 1 << 20 });
  const opened = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    input.once('open', () => resolve(undefined));
    input.once('error', (error) => resolve(error));
  });
  if (opened?.code === 'ENOENT') return { kind: 'missing' };
  if (opened) return { kind: 'rejected', problems: [`cannot read ${path}: ${opened.code ?? opened.message}`] };

  const lines = createInterface({ input, crlfDelay: Infinity });
  const hash = createHash('sha256');
  const problems: string[] = [];
  let header: SnapshotHeader | undefined;
  let sizes = { keys: 0, consumers: 0 };
  let state: ReplicaState | undefined;
  let section: 'header' | 'document' | 'consumers-open' | 'consumers' | 'keys-open' | 'keys' | 'trailer' | 'done' = 'header';
  let consumers = 0;
  let keys = 0;
  let trailer: { sha256?: unknown; consumers?: unknown; keys?: unknown } | undefined;
  const fail = (problem: string) => {
    problems.push(problem);
    lines.close();
  };
  try {
    for await (const line of lines) {
      if (problems.length > 0) break;
      if (section !== 'trailer') hash.update(`${line}\n`);
      switch (section) {
        case 'header': {
          const h = parseJson(line) as { portcullis_snapshot?: unknown; epoch?: unknown; revision?: unknown; contact_ms?: unknown; keys?: unknown; consumers?: unknown } | undefined;
          if (h?.portcullis_snapshot !== FORMAT || typeof h.epoch !== 'string' || !Number.isInteger(h.revision) || typeof h.contact_ms !== 'number') {
            fail('not a Portcullis snapshot of a known format');
          } else {
            header = { epoch: h.epoch, revision: h.revision as number, contactMs: h.contact_ms };
            const size = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 100_000_000 ? (v as number) : 0);
            sizes = { keys: size(h.keys), consumers: size(h.consumers) };
            section = 'document';
          }
          break;
        }
        case 'document': {
          const doc = line.endsWith(',') ? (parseJson(`${line.slice(0, -1)}}`) as Record<string, unknown> | undefined) : undefined;
          const compiled = doc && catalogFromJson(JSON.stringify({ plans: doc['plans'], issuers: doc['issuers'], services: doc['services'] }));
          if (!doc || doc['revision'] !== header!.revision) fail('the state document does not match its header');
          else if (!compiled!.ok) fail(compiled!.problems.join('; '));
          else {
            state = new ReplicaState(header!.epoch, header!.revision, compiled!.catalog, sizes);
            section = 'consumers-open';
          }
          break;
        }
        case 'consumers-open':
        case 'keys-open':
          if (line !== (section === 'consumers-open' ? '"consumers":[' : '"keys":[')) fail(`unexpected line where ${section === 'consumers-open' ? 'consumers' : 'keys'} begin`);
          else section = section === 'consumers-open' ? 'consumers' : 'keys';
          break;
        case 'consumers':
        case 'keys': {
          if (line === (section === 'consumers' ? '],' : ']}')) {
            section = section === 'consumers' ? 'keys-open' : 'trailer';
            break;
          }
          const first = (section === 'consumers' ? consumers : keys) === 0;
          const text = first ? line : line.startsWith(',') ? line.slice(1) : undefined;
          const value = text === undefined ? undefined : parseJson(text);
          if (value === undefined) {
            fail(`a ${section === 'consumers' ? 'consumer' : 'key'} line is not JSON`);
          } else if (section === 'consumers') {
            const checked = consumerFromDocument(value);
            if (checked.ok) {
              state!.addCheckedConsumer(checked.value);
              consumers++;
            } else fail(checked.problem);
          } else {
            const checked = keyFromDocument(value);
            if (checked.ok) {
              state!.addCheckedKey(checked.value);
              keys++;
            } else fail(checked.problem);
          }
          break;
        }
        case 'trailer':
          trailer = parseJson(line) as typeof trailer;
          section = 'done';
          break;
        case 'done':
          fail('data after the trailer');
      }
    }
  } catch (error) {
    problems.push(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  } finally {
    input.destroy();
  }
  if (problems.length === 0) {
    if (section !== 'done' || trailer === undefined) problems.push('the file ends early (torn write?)');
    else if (trailer.sha256 !== hash.digest('hex')) problems.push('checksum mismatch');
    else if (trailer.consumers !== consumers || trailer.keys !== keys) problems.push('counts do not match the trailer');
  }
  if (problems.length > 0) return { kind: 'rejected', problems };
  return { kind: 'loaded', header: header!, state: state! };
}
