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
 *   {"sha256":"…","consumers":N,"keys":M}                                  ← trailer, padded to 192 bytes
 *
 * The lines between header and trailer are a state file as PORTCULLIS_STATE_FILE reads it. The trailer's
 * SHA-256 covers every byte before it: a torn or tampered file is refused whole. Writes go to a temporary
 * file (mode 0600), are fsynced and renamed over the old one, so a crash leaves the old or the new file.
 *
 * Writing reads the live indexes while deltas keep landing (a million keys take a few seconds and must not
 * stall requests). The file is labelled with the revision it started at; every consumer and key in it is
 * that recent or newer, which resuming from that revision makes exact again.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { ReplicaState, catalogFromJson } from './replica-state.js';
import { consumerFromDocument, keyFromDocument, keyToDocument } from './wire.js';

export const SNAPSHOT_FILE_NAME = 'portcullis-state.snapshot';
const FORMAT = 1;
/** The trailer is padded to this many bytes, so a reader knows where the checksummed part ends. */
const TRAILER_BYTES = 192;
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
    await handle.write(`${JSON.stringify({ sha256: hash.digest('hex'), consumers, keys }).padEnd(TRAILER_BYTES - 1)}\n`);
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

/**
 * The file's lines, a chunk's worth at a time, and every byte before the trailer into `hash`. Plain chunk
 * splitting: readline's per-line machinery (and an await per line) costs more than the parsing at a
 * million lines.
 */
async function* lineBatches(input: ReadStream, hash: Hash, checksummedBytes: number): AsyncGenerator<string[]> {
  const decoder = new StringDecoder('utf8');
  let position = 0;
  let carry = '';
  for await (const chunk of input as AsyncIterable<Buffer>) {
    const hashed = Math.max(0, Math.min(chunk.length, checksummedBytes - position));
    if (hashed > 0) hash.update(hashed === chunk.length ? chunk : chunk.subarray(0, hashed));
    position += chunk.length;
    const lines = (carry + decoder.write(chunk)).split('\n');
    carry = lines.pop()!;
    yield lines;
  }
  carry += decoder.end();
  if (carry !== '') yield [carry];
}

type Section = 'header' | 'document' | 'consumers-open' | 'consumers' | 'keys-open' | 'keys' | 'trailer' | 'done';

/** Takes the file line by line, in the layout writeSnapshot produces, and builds the state as it goes. */
class SnapshotParser {
  section: Section = 'header';
  header: SnapshotHeader | undefined;
  state: ReplicaState | undefined;
  trailer: { sha256?: unknown; consumers?: unknown; keys?: unknown } | undefined;
  consumers = 0;
  keys = 0;
  #sizes = { keys: 0, consumers: 0 };

  /** A problem with the line, or undefined. */
  line(line: string): string | undefined {
    switch (this.section) {
      case 'header':
        return this.#header(line);
      case 'document':
        return this.#document(line);
      case 'consumers-open':
      case 'keys-open': {
        const consumers = this.section === 'consumers-open';
        if (line !== (consumers ? '"consumers":[' : '"keys":[')) return `unexpected line where ${consumers ? 'consumers' : 'keys'} begin`;
        this.section = consumers ? 'consumers' : 'keys';
        return undefined;
      }
      case 'consumers':
        if (line === '],') {
          this.section = 'keys-open';
          return undefined;
        }
        return this.#consumer(line);
      case 'keys':
        if (line === ']}') {
          this.section = 'trailer';
          return undefined;
        }
        return this.#key(line);
      case 'trailer':
        this.trailer = parseJson(line) as SnapshotParser['trailer'];
        this.section = 'done';
        return undefined;
      case 'done':
        return 'data after the trailer';
    }
  }

  #header(line: string): string | undefined {
    const h = parseJson(line) as { portcullis_snapshot?: unknown; epoch?: unknown; revision?: unknown; contact_ms?: unknown; keys?: unknown; consumers?: unknown } | undefined;
    if (h?.portcullis_snapshot !== FORMAT || typeof h.epoch !== 'string' || !Number.isInteger(h.revision) || typeof h.contact_ms !== 'number') {
      return 'not a Portcullis snapshot of a known format';
    }
    this.header = { epoch: h.epoch, revision: h.revision as number, contactMs: h.contact_ms };
    const size = (v: unknown) => (Number.isInteger(v) && (v as number) >= 0 && (v as number) <= 100_000_000 ? (v as number) : 0);
    this.#sizes = { keys: size(h.keys), consumers: size(h.consumers) };
    this.section = 'document';
    return undefined;
  }

  #document(line: string): string | undefined {
    const doc = line.endsWith(',') ? (parseJson(`${line.slice(0, -1)}}`) as Record<string, unknown> | undefined) : undefined;
    if (!doc || doc['revision'] !== this.header!.revision) return 'the state document does not match its header';
    const compiled = catalogFromJson(JSON.stringify({ plans: doc['plans'], issuers: doc['issuers'], services: doc['services'] }));
    if (!compiled.ok) return compiled.problems.join('; ');
    this.state = new ReplicaState(this.header!.epoch, this.header!.revision, compiled.catalog, this.#sizes);
    this.section = 'consumers-open';
    return undefined;
  }

  /** Elements after the first start with the comma that separates them. */
  #element(line: string, first: boolean): unknown {
    const text = first ? line : line.startsWith(',') ? line.slice(1) : undefined;
    return text === undefined ? undefined : parseJson(text);
  }

  #consumer(line: string): string | undefined {
    const value = this.#element(line, this.consumers === 0);
    if (value === undefined) return 'a consumer line is not JSON';
    const checked = consumerFromDocument(value);
    if (!checked.ok) return checked.problem;
    this.state!.addCheckedConsumer(checked.value);
    this.consumers++;
    return undefined;
  }

  #key(line: string): string | undefined {
    const value = this.#element(line, this.keys === 0);
    if (value === undefined) return 'a key line is not JSON';
    const checked = keyFromDocument(value);
    if (!checked.ok) return checked.problem;
    this.state!.addCheckedKey(checked.value);
    this.keys++;
    return undefined;
  }
}

/** Read, verify and index a snapshot file. Never throws; a bad file is `rejected` with its problems. */
export async function readSnapshot(dir: string): Promise<SnapshotLoad> {
  const path = snapshotPath(dir);
  const input = createReadStream(path, { highWaterMark: 1 << 20 });
  const opened = await new Promise<NodeJS.ErrnoException | undefined>((resolve) => {
    input.once('open', () => resolve(undefined));
    input.once('error', (error) => resolve(error));
  });
  if (opened?.code === 'ENOENT') return { kind: 'missing' };
  if (opened) return { kind: 'rejected', problems: [`cannot read ${path}: ${opened.code ?? opened.message}`] };
  const hash = createHash('sha256');
  const parser = new SnapshotParser();
  let problem: string | undefined;
  try {
    const size = (await stat(path)).size;
    read: for await (const batch of lineBatches(input, hash, size - TRAILER_BYTES)) {
      for (const line of batch) {
        problem = parser.line(line);
        if (problem !== undefined) break read;
      }
    }
  } catch (error) {
    problem = `cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`;
  } finally {
    input.destroy();
  }
  const { trailer } = parser;
  if (problem === undefined) {
    if (parser.section !== 'done' || trailer === undefined) problem = 'the file ends early (torn write?)';
    else if (trailer.sha256 !== hash.digest('hex')) problem = 'checksum mismatch';
    else if (trailer.consumers !== parser.consumers || trailer.keys !== parser.keys) problem = 'counts do not match the trailer';
  }
  if (problem !== undefined) return { kind: 'rejected', problems: [problem] };
  return { kind: 'loaded', header: parser.header!, state: parser.state! };
}
