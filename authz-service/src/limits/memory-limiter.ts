/**
 * Per-process rate limiter. Used alone for single-replica deployments and as the per-replica insurance when
 * the Redis store is unavailable on fail-open routes. Same fixed-window semantics as the Redis limiter (see
 * consume-buckets.ts): a window opens at a bucket's first draw and lasts its length; refused draws count
 * until refunded; counters of different window lengths never mix, while a limit change on the same window
 * keeps counting in the same counter (as the Redis keys do).
 *
 * Why not rate-limiter-flexible's RateLimiterMemory, as before: its consume always returns a promise (and
 * rejects to say "limited"), which made every API-key decision asynchronous, and it arms one timer per
 * window per bucket to forget counters. Counting in a Map is a few lines; here a draw is synchronous, refunds
 * go exactly to the window they were drawn from, and expired counters are swept in small batches. The
 * shared store (Redis) still runs rate-limiter-flexible's atomic script.
 */
import type { BucketStore, Draw } from './bucket-store.js';
import { consumeBuckets } from './consume-buckets.js';
import type { BucketRequest, LimitOutcome, RateLimiter } from './limiter.js';
import type { MaybePromise } from '../core/maybe-promise.js';

interface Counter {
  consumed: number;
  /** Epoch ms at which this window ends and the counter is worth nothing. */
  readonly resetsAtMs: number;
}

/** How often expired counters are looked for, and how many counters one look may visit. */
const SWEEP_INTERVAL_MS = 250;
const SWEEP_BUDGET = 10_000;

/** The counters of one window length, with a cursor so a sweep can stop and resume where it left off. */
class WindowCounters {
  readonly byKey = new Map<string, Counter>();
  #cursor: IterableIterator<[string, Counter]> | undefined;

  /** Visits at most `budget` counters, deleting expired ones; returns how many it visited. */
  sweep(nowMs: number, budget: number): number {
    let visited = 0;
    while (visited < budget) {
      this.#cursor ??= this.byKey.entries();
      const next = this.#cursor.next();
      if (next.done === true) {
        this.#cursor = undefined;
        break;
      }
      visited++;
      if (next.value[1].resetsAtMs <= nowMs) this.byKey.delete(next.value[0]);
    }
    return visited;
  }
}

export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';
  readonly #windows = new Map<number, WindowCounters>();
  readonly #clock: () => number;
  readonly #sweeper: NodeJS.Timeout;

  readonly #store: BucketStore = {
    draw: (bucket, cost) => this.#draw(bucket, cost),
    refund: (bucket, cost, draw) => this.#refund(bucket, cost, draw),
    failureReason: (error) => `memory limiter failed: ${error instanceof Error ? error.message : String(error)}`,
  };

  constructor(options: { readonly clock?: () => number } = {}) {
    this.#clock = options.clock ?? Date.now;
    this.#sweeper = setInterval(() => this.#sweep(), SWEEP_INTERVAL_MS);
    this.#sweeper.unref();
  }

  consume(buckets: readonly BucketRequest[], cost: number): MaybePromise<LimitOutcome> {
    return consumeBuckets(this.#store, buckets, cost);
  }

  /** Counters currently held (expired ones not yet swept included). */
  get size(): number {
    let n = 0;
    for (const window of this.#windows.values()) n += window.byKey.size;
    return n;
  }

  async close(): Promise<void> {
    clearInterval(this.#sweeper);
    this.#windows.clear();
  }

  #draw(bucket: BucketRequest, cost: number): Draw {
    const now = this.#clock();
    let window = this.#windows.get(bucket.windowSeconds);
    if (window === undefined) {
      window = new WindowCounters();
      this.#windows.set(bucket.windowSeconds, window);
    }
    let counter = window.byKey.get(bucket.key);
    if (counter === undefined || counter.resetsAtMs <= now) {
      counter = { consumed: 0, resetsAtMs: now + bucket.windowSeconds * 1000 };
      window.byKey.set(bucket.key, counter);
    }
    counter.consumed += cost;
    return { consumed: counter.consumed, msBeforeReset: counter.resetsAtMs - now, windowEndsAtMs: counter.resetsAtMs };
  }

  /** Only into the very window the draw counted in, and only while it lasts: a new window never goes negative. */
  #refund(bucket: BucketRequest, cost: number, draw: Draw): void {
    const counter = this.#windows.get(bucket.windowSeconds)?.byKey.get(bucket.key);
    if (counter !== undefined && counter.resetsAtMs === draw.windowEndsAtMs && this.#clock() < counter.resetsAtMs) counter.consumed -= cost;
  }

  #sweep(): void {
    const now = this.#clock();
    let budget = SWEEP_BUDGET;
    for (const window of this.#windows.values()) {
      budget -= window.sweep(now, budget);
      if (budget <= 0) return;
    }
  }
}
