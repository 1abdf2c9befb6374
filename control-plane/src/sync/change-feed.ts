/**
 * The control plane's view of the change log for every sync stream it serves: the newest revision (polled,
 * and woken at once by in-process commits and Postgres NOTIFY), deltas since a revision (computed once per
 * starting revision and shared by every replica that stands there), and pruning of old changes.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { currentRevision } from '../store/revision.js';
import { pruneChanges } from '../store/state-changes.js';
import { type DeltaRead, DEFAULT_MAX_DELTA_CHANGES, readDelta } from './delta-reader.js';

export interface ChangeFeedOptions {
  readonly db: Knex;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** The safety net under notifications. Default 1000 ms. */
  readonly pollIntervalMs?: number;
  /** How long changes stay in the log; a replica further behind gets a snapshot. Default 24 h. */
  readonly retentionMs?: number;
  /** How often old changes are deleted. Default 10 min. */
  readonly pruneIntervalMs?: number;
  readonly maxDeltaChanges?: number;
}

export type AdvanceListener = (head: number) => void;

export const DEFAULT_RETENTION_MS = 24 * 3600_000;

export class ChangeFeed {
  readonly #options: ChangeFeedOptions;
  readonly #clock: () => number;
  readonly #listeners = new Set<AdvanceListener>();
  #head = 0;
  #polling: Promise<void> | undefined;
  #pollAgain = false;
  #deltas = new Map<number, Promise<DeltaRead>>();
  #timers: NodeJS.Timeout[] = [];
  #lastError = 0;

  constructor(options: ChangeFeedOptions) {
    this.#options = options;
    this.#clock = options.clock ?? Date.now;
  }

  get head(): number {
    return this.#head;
  }

  async start(): Promise<void> {
    this.#head = await currentRevision(this.#options.db);
    const poll = setInterval(() => this.wake(), this.#options.pollIntervalMs ?? 1000);
    const prune = setInterval(() => void this.prune(), this.#options.pruneIntervalMs ?? 600_000);
    poll.unref();
    prune.unref();
    this.#timers.push(poll, prune);
  }

  /** Look for a new revision now; calls during a look coalesce into one more. */
  wake(): void {
    if (this.#polling) {
      this.#pollAgain = true;
      return;
    }
    this.#polling = this.#poll().finally(() => {
      this.#polling = undefined;
      if (this.#pollAgain) {
        this.#pollAgain = false;
        this.wake();
      }
    });
  }

  async #poll(): Promise<void> {
    let revision: number;
    try {
      revision = await currentRevision(this.#options.db);
    } catch (error) {
      // the database is away: replicas keep what they have; nothing can change meanwhile anyway
      if (this.#clock() - this.#lastError > 10_000) this.#options.logger.warn({ err: error }, 'change feed cannot read the revision');
      this.#lastError = this.#clock();
      return;
    }
    if (revision <= this.#head) return;
    this.#head = revision;
    this.#deltas = new Map();
    for (const listener of this.#listeners) listener(revision);
  }

  /** Called with the new head whenever it moves. Returns an unsubscribe function. */
  onAdvance(listener: AdvanceListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Everything after `since`; replicas at the same revision share one read until the head moves. */
  deltaSince(since: number): Promise<DeltaRead> {
    let read = this.#deltas.get(since);
    if (read === undefined) {
      const deltas = this.#deltas;
      read = readDelta(this.#options.db, since, this.#clock(), this.#options.maxDeltaChanges ?? DEFAULT_MAX_DELTA_CHANGES);
      read.catch(() => deltas.delete(since));
      deltas.set(since, read);
    }
    return read;
  }

  /** Delete changes older than the retention (or `retentionMs`); returns how many went. */
  async prune(retentionMs = this.#options.retentionMs ?? DEFAULT_RETENTION_MS): Promise<number> {
    try {
      const pruned = await pruneChanges(this.#options.db, new Date(this.#clock() - retentionMs));
      if (pruned > 0) this.#deltas = new Map();
      return pruned;
    } catch (error) {
      this.#options.logger.warn({ err: error }, 'pruning the change log failed; will retry');
      return 0;
    }
  }

  close(): void {
    for (const timer of this.#timers.splice(0)) clearInterval(timer);
    this.#listeners.clear();
  }
}
