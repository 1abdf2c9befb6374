/**
 * Sync mode's state source: the last snapshot from disk first (so the replica serves even when the control
 * plane is down), then the control plane's stream — snapshots built off to the side and swapped in whole,
 * deltas patched into the live indexes and published as a new state object. Every change is persisted in
 * the background; every message counts as contact for the staleness clock. Never touches a database.
 */
import type { Logger } from '../observability/logger.js';
import type { StateStore } from '../state/store.js';
import type { SyncClientConfig } from './config.js';
import { SyncConnection, type SyncConnectionOptions } from './connection.js';
import type { ReceivedSyncMessage, WireUsageAck, WireUsageBatch } from './messages.js';
import { catalogFromJson, ReplicaState } from './replica-state.js';
import { readSnapshot, writeSnapshot } from './snapshot-file.js';
import { Staleness } from './staleness.js';

export const STATE_SOURCE_NAME = 'sync';

/** Knobs tests turn; production uses the defaults. */
export interface SyncTuning extends Partial<Pick<SyncConnectionOptions, 'initialBackoffMs' | 'maxBackoffMs' | 'missedHeartbeats'>> {
  /** Wait after a change before writing the snapshot file (changes meanwhile share the write). Default 2000. */
  readonly persistDelayMs?: number;
}

export interface SyncSourceOptions {
  readonly config: SyncClientConfig;
  readonly store: StateStore;
  readonly logger: Logger;
  /** Told about states that could not be applied. */
  readonly onRejected?: (problems: readonly string[]) => void;
  readonly clock?: () => number;
  readonly tuning?: SyncTuning;
}

interface Staged {
  readonly state: ReplicaState;
  consumers: number;
  keys: number;
  readonly startedMs: number;
}

class ProtocolError extends Error {}

export class SyncStateSource {
  readonly staleness: Staleness;
  readonly #options: SyncSourceOptions;
  readonly #clock: () => number;
  readonly #log: Logger;
  readonly #connection: SyncConnection;
  #live: ReplicaState | undefined;
  #staged: Staged | undefined;
  #connected = false;
  #persistTimer: NodeJS.Timeout | undefined;
  #persisting: Promise<void> | undefined;
  #dirty = false;
  #closed = false;

  constructor(options: SyncSourceOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
    this.#log = options.logger.child({ component: 'sync', target: options.config.target });
    this.staleness = new Staleness({ maxSeconds: options.config.maxStalenessSeconds, mode: options.config.staleMode, clock: this.#clock });
    this.#connection = new SyncConnection({
      target: options.config.target,
      token: options.config.token,
      ...(options.config.tls !== undefined ? { tls: options.config.tls } : {}),
      replicaId: options.config.replicaId,
      position: () => ({ revision: this.#live?.revision ?? 0, epoch: this.#live?.epoch ?? '' }),
      events: {
        message: (message) => this.#onMessage(message),
        disconnected: (reason, code, retryInMs) => this.#onDisconnected(reason, code, retryInMs),
      },
      ...options.tuning,
    });
  }

  /** True while a stream is delivering. */
  get connected(): boolean {
    return this.#connected;
  }

  get revision(): number | undefined {
    return this.#live?.revision;
  }

  /** Load the disk snapshot, if there is one, then connect; does not wait for the control plane. */
  async start(): Promise<void> {
    const dir = this.#options.config.snapshotDir;
    if (dir !== undefined) {
      const started = this.#clock();
      const loaded = await readSnapshot(dir);
      if (loaded.kind === 'loaded') {
        this.#live = loaded.state;
        this.staleness.contact(loaded.header.contactMs);
        this.#publish();
        this.#log.info(
          { dir, revision: loaded.state.revision, consumers: loaded.state.consumers.size, keys: loaded.state.keys.keyCount, ms: this.#clock() - started },
          'serving the last snapshot from disk until the control plane answers',
        );
      } else if (loaded.kind === 'rejected') {
        this.#options.onRejected?.(loaded.problems);
        this.#log.error({ dir, problems: loaded.problems }, 'the snapshot on disk is unusable; waiting for the control plane');
      }
    }
    this.#connection.start();
  }

  reportUsage(batch: WireUsageBatch): Promise<WireUsageAck> {
    return this.#connection.reportUsage(batch);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#connection.close();
    if (this.#persistTimer) clearTimeout(this.#persistTimer);
    this.#persistTimer = undefined;
    await this.#persisting;
    // what arrived since the last write is worth keeping for the next start
    if (this.#dirty) await this.#persist();
  }

  #onMessage(message: ReceivedSyncMessage): void {
    this.staleness.contact();
    if (!this.#connected) {
      this.#connected = true;
      this.#log.info({ revision: this.#live?.revision ?? 0 }, 'connected to the control plane');
    }
    switch (message.message) {
      case 'snapshot_begin': {
        const begin = message.snapshot_begin;
        const catalog = catalogFromJson(begin.catalog_json);
        if (!catalog.ok) throw this.#reject(catalog.problems);
        this.#staged = { state: new ReplicaState(begin.epoch, begin.revision, catalog.catalog, { keys: begin.key_count, consumers: begin.consumer_count }), consumers: 0, keys: 0, startedMs: this.#clock() };
        return;
      }
      case 'consumers': {
        const staged = this.#requireStaged('consumers');
        const result = staged.state.addConsumers(message.consumers.consumers);
        if (!result.ok) throw this.#reject(result.problems);
        staged.consumers += message.consumers.consumers.length;
        return;
      }
      case 'keys': {
        const staged = this.#requireStaged('keys');
        const result = staged.state.addKeys(message.keys.keys);
        if (!result.ok) throw this.#reject(result.problems);
        staged.keys += message.keys.keys.length;
        return;
      }
      case 'delta': {
        const target = this.#staged?.state ?? this.#live;
        if (target === undefined) throw new ProtocolError('a delta arrived before any state');
        const result = target.apply(message.delta);
        if (!result.ok) throw this.#reject(result.problems);
        if (target === this.#live) this.#publish();
        return;
      }
      case 'snapshot_end': {
        const staged = this.#requireStaged('snapshot_end');
        const end = message.snapshot_end;
        if (end.consumer_count !== staged.consumers || end.key_count !== staged.keys || end.revision !== staged.state.revision) {
          throw this.#reject([`snapshot incomplete: ${staged.consumers}/${end.consumer_count} consumers, ${staged.keys}/${end.key_count} keys, revision ${staged.state.revision}/${end.revision}`]);
        }
        this.#staged = undefined;
        this.#live = staged.state;
        this.#publish();
        this.#log.info({ revision: staged.state.revision, consumers: staged.consumers, keys: staged.keys, ms: this.#clock() - staged.startedMs }, 'snapshot received');
        return;
      }
      case 'heartbeat':
        return;
    }
  }

  #requireStaged(what: string): Staged {
    if (!this.#staged) throw new ProtocolError(`${what} outside a snapshot`);
    return this.#staged;
  }

  #reject(problems: readonly string[]): ProtocolError {
    this.#options.onRejected?.(problems);
    this.#log.error({ problems: problems.slice(0, 20) }, 'state from the control plane refused; keeping the current state');
    return new ProtocolError(problems[0] ?? 'invalid state');
  }

  #onDisconnected(reason: string, code: number | undefined, retryInMs: number): void {
    this.#staged = undefined;
    const level = this.#connected ? 'warn' : 'debug';
    this.#connected = false;
    this.#log[level]({ reason, code, retry_ms: retryInMs, revision: this.#live?.revision, staleness_seconds: this.staleness.seconds() }, 'sync stream lost; reconnecting');
  }

  /** Swap the live state in (a new top-level object), and have it written to disk soon. */
  #publish(): void {
    this.#options.store.swap(this.#live!.compiled(), STATE_SOURCE_NAME);
    this.#dirty = true;
    this.#schedulePersist();
  }

  #schedulePersist(): void {
    if (this.#options.config.snapshotDir === undefined || this.#persistTimer || this.#persisting || this.#closed) return;
    this.#persistTimer = setTimeout(() => {
      this.#persistTimer = undefined;
      this.#persisting = this.#persist().finally(() => {
        this.#persisting = undefined;
        if (this.#dirty) this.#schedulePersist();
      });
    }, this.#options.tuning?.persistDelayMs ?? 2_000);
    this.#persistTimer.unref();
  }

  async #persist(): Promise<void> {
    const dir = this.#options.config.snapshotDir;
    const live = this.#live;
    if (dir === undefined || live === undefined) return;
    this.#dirty = false;
    try {
      await writeSnapshot(dir, live, this.staleness.contactMs ?? this.#clock());
    } catch (error) {
      this.#dirty = true;
      this.#log.error({ err: error, dir }, 'could not write the state snapshot; will retry with the next change');
    }
  }
}
