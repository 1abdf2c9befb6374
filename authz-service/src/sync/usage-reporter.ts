/**
 * Sends the usage counter's contents to the control plane every few seconds, as batches with ids of their
 * own. A batch that fails is sent again, later, with the same id and the same content — never merged with
 * newer counts — so the control plane (idempotent by batch id) counts it exactly once whether or not the
 * first attempt had in fact arrived. Batches go in order; a failure stops the round and is retried next tick.
 */
import { randomBytes } from 'node:crypto';
import type { Logger } from '../observability/logger.js';
import type { WireUsageAck, WireUsageBatch, WireUsageEntry } from './messages.js';
import type { UsageCounter } from './usage-counter.js';

export const MAX_ENTRIES_PER_BATCH = 10_000;
/** Batches kept while the control plane is away; beyond this the oldest are dropped (and logged). */
export const MAX_PENDING_BATCHES = 1_000;

export interface UsageReporterOptions {
  readonly counter: UsageCounter;
  readonly send: (batch: WireUsageBatch) => Promise<WireUsageAck>;
  readonly replicaId: string;
  readonly intervalMs: number;
  readonly logger: Logger;
}

export class UsageReporter {
  readonly #options: UsageReporterOptions;
  /** Unique per process: a replica that restarts under the same name must not reuse a batch id. */
  readonly #bootId = randomBytes(6).toString('base64url');
  #sequence = 0;
  readonly #pending: WireUsageBatch[] = [];
  #timer: NodeJS.Timeout | undefined;
  #flushing: Promise<void> | undefined;
  #failures = 0;

  constructor(options: UsageReporterOptions) {
    this.#options = options;
  }

  /** Batches waiting for an acknowledgement. */
  get pending(): number {
    return this.#pending.length;
  }

  start(): void {
    this.#timer ??= setInterval(() => void this.flush(), this.#options.intervalMs);
    this.#timer.unref();
  }

  /** Move what was counted into batches and send every pending batch; resolves when the round is over. */
  flush(): Promise<void> {
    this.#flushing ??= this.#round().finally(() => (this.#flushing = undefined));
    return this.#flushing;
  }

  async #round(): Promise<void> {
    this.#enqueue(this.#options.counter.drain());
    while (this.#pending.length > 0) {
      const batch = this.#pending[0]!;
      try {
        await this.#options.send(batch);
      } catch (error) {
        this.#failures++;
        if (this.#failures === 1 || this.#failures % 60 === 0) {
          this.#options.logger.warn({ err: error, pending: this.#pending.length, failures: this.#failures }, 'usage report failed; will retry the same batches');
        }
        return;
      }
      this.#pending.shift();
      this.#failures = 0;
    }
  }

  #enqueue(entries: readonly WireUsageEntry[]): void {
    for (let i = 0; i < entries.length; i += MAX_ENTRIES_PER_BATCH) {
      this.#pending.push({
        batch_id: `${this.#options.replicaId}.${this.#bootId}.${this.#sequence++}`,
        replica_id: this.#options.replicaId,
        entries: entries.slice(i, i + MAX_ENTRIES_PER_BATCH),
      });
    }
    if (this.#pending.length > MAX_PENDING_BATCHES) {
      const dropped = this.#pending.splice(0, this.#pending.length - MAX_PENDING_BATCHES);
      this.#options.logger.error({ dropped: dropped.length }, 'usage batches dropped: the control plane has been unreachable too long');
    }
  }

  /** Stop the timer and make one last attempt to deliver everything. */
  async close(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
    await this.flush();
    if (this.#pending.length > 0) this.#options.logger.warn({ pending: this.#pending.length }, 'usage batches not delivered before shutdown');
  }
}
