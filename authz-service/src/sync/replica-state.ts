/**
 * A replica's state between swaps: the compiled catalog plus consumer and key indexes that deltas patch in
 * place. Key and consumer changes touch only their own rows (one revocation among a million keys costs
 * microseconds); a catalog change recompiles the catalog alone.
 *
 * A delta is checked whole before anything changes, then applied in one synchronous run, and `compiled()`
 * wraps the result in a new top-level state object for the store to swap in: a request sees the state before
 * a delta or after it, never half of one. Snapshots are built into a fresh ReplicaState off to the side.
 */
import { assembleState, type CompiledCatalog, compileCatalog, type CompiledState } from '../state/compile.js';
import { ConsumerIndex } from '../state/consumer-index.js';
import { type KeyInput, KeyTable } from '../state/key-table.js';
import type { ConsumerSpec } from '../state/schema.js';
import type { WireConsumer, WireDelta, WireKey } from './messages.js';
import { type Checked, consumerFromWire, keyFromWire } from './wire.js';

export type ApplyResult = { readonly ok: true } | { readonly ok: false; readonly problems: readonly string[] };

/** Parse and compile a catalog document (JSON text); every problem at once. */
export function catalogFromJson(json: string): { ok: true; catalog: CompiledCatalog } | { ok: false; problems: readonly string[] } {
  let document: unknown;
  try {
    document = JSON.parse(json);
  } catch {
    return { ok: false, problems: ['catalog: not valid JSON'] };
  }
  const result = compileCatalog(document);
  return result.ok ? { ok: true, catalog: result.catalog } : { ok: false, problems: result.errors.map((e) => `catalog.${e}`) };
}

function collect<T>(results: readonly Checked<T>[], problems: string[]): T[] {
  const values: T[] = [];
  for (const r of results) {
    if (r.ok) values.push(r.value);
    else problems.push(r.problem);
  }
  return values;
}

export class ReplicaState {
  readonly consumers = new ConsumerIndex();
  readonly keys: KeyTable;
  #catalog: CompiledCatalog;
  #revision: number;

  constructor(
    /** The control-plane installation this state comes from. */
    readonly epoch: string,
    revision: number,
    catalog: CompiledCatalog,
    expected: { readonly keys?: number; readonly consumers?: number } = {},
  ) {
    this.#revision = revision;
    this.#catalog = catalog;
    this.keys = new KeyTable(expected.keys ?? 0, expected.consumers ?? 0);
  }

  get revision(): number {
    return this.#revision;
  }

  get catalog(): CompiledCatalog {
    return this.#catalog;
  }

  /** A new top-level state object over the current indexes. */
  compiled(): CompiledState {
    const consumers = this.consumers;
    return assembleState(this.#revision, this.#catalog, {
      consumers: consumers.byId,
      keysByHash: this.keys,
      keyCount: this.keys.keyCount,
      consumerBySubject: (issuer, subject) => consumers.bySubject(issuer, subject),
    });
  }

  /** A snapshot's batch of consumers; all or nothing. */
  addConsumers(batch: readonly WireConsumer[]): ApplyResult {
    const problems: string[] = [];
    const consumers = collect(batch.map(consumerFromWire), problems);
    if (problems.length > 0) return { ok: false, problems };
    for (const c of consumers) this.consumers.upsert(c);
    return { ok: true };
  }

  /** A snapshot's batch of keys; all or nothing. */
  addKeys(batch: readonly WireKey[]): ApplyResult {
    const problems: string[] = [];
    const keys = collect(batch.map(keyFromWire), problems);
    if (problems.length > 0) return { ok: false, problems };
    for (const k of keys) this.keys.upsert(k);
    return { ok: true };
  }

  /** Loading from a file: already checked inputs. */
  addCheckedConsumer(consumer: ConsumerSpec): void {
    this.consumers.upsert(consumer);
  }

  addCheckedKey(key: KeyInput): void {
    this.keys.upsert(key);
  }

  /**
   * Apply one delta: only on top of the revision it was made for, and only if every part of it is valid;
   * otherwise nothing changes and the problems are returned.
   */
  apply(delta: WireDelta): ApplyResult {
    if (delta.from_revision !== this.#revision) {
      return { ok: false, problems: [`delta from revision ${delta.from_revision} does not follow revision ${this.#revision}`] };
    }
    if (delta.revision < delta.from_revision) return { ok: false, problems: [`delta goes back from ${delta.from_revision} to ${delta.revision}`] };
    const problems: string[] = [];
    let catalog: CompiledCatalog | undefined;
    if (delta.catalog_json !== '') {
      const compiled = catalogFromJson(delta.catalog_json);
      if (compiled.ok) catalog = compiled.catalog;
      else problems.push(...compiled.problems);
    }
    const consumerUpserts: Checked<ConsumerSpec>[] = [];
    const consumerDeletes: string[] = [];
    const keyUpserts: Checked<KeyInput>[] = [];
    const keyDeletes: string[] = [];
    for (const change of delta.changes) {
      if (change.resource === 'RESOURCE_CONSUMER') {
        if (change.consumer) consumerUpserts.push(consumerFromWire(change.consumer));
        else consumerDeletes.push(change.id);
      } else if (change.resource === 'RESOURCE_KEY') {
        if (change.key) keyUpserts.push(keyFromWire(change.key));
        else keyDeletes.push(change.id);
      }
      // services, plans and issuers arrive as the whole catalog
    }
    const consumers = collect(consumerUpserts, problems);
    const keys = collect(keyUpserts, problems);
    if (problems.length > 0) return { ok: false, problems };

    // nothing below can fail: the delta lands whole
    if (catalog) this.#catalog = catalog;
    for (const id of consumerDeletes) {
      this.consumers.delete(id);
      // the control plane deletes a consumer's keys with it, without a change of their own
      this.keys.deleteConsumerKeys(id);
    }
    for (const c of consumers) this.consumers.upsert(c);
    for (const id of keyDeletes) this.keys.delete(id);
    for (const k of keys) this.keys.upsert(k);
    this.#revision = delta.revision;
    return { ok: true };
  }
}
