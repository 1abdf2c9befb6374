/**
 * Per-process rate limiter (rate-limiter-flexible RateLimiterMemory). Used alone for single-replica
 * deployments and as the per-replica insurance when the Redis store is unavailable on fail-open routes.
 * Same fixed-window semantics as the Redis limiter (see consume-buckets.ts).
 */
import { RateLimiterMemory } from 'rate-limiter-flexible';
import { type BucketStore, drawFrom, LimiterPool } from './bucket-store.js';
import { consumeBuckets } from './consume-buckets.js';
import type { BucketRequest, LimitOutcome, RateLimiter } from './limiter.js';

/**
 * A refund this close to the window's end is skipped: the window is about to reset anyway, and a refund
 * that lands after the reset would open the next window with a negative count.
 */
const REFUND_GUARD_MS = 5;

export class MemoryRateLimiter implements RateLimiter {
  readonly kind = 'memory';

  // Each RateLimiterMemory keeps its own storage, so the window needs no key prefix here.
  readonly #pool = new LimiterPool((windowSeconds, points) => new RateLimiterMemory({ points, duration: windowSeconds, keyPrefix: '' }));

  readonly #store: BucketStore = {
    draw: (bucket, cost) => drawFrom(this.#limiterFor(bucket), bucket.key, cost),
    refund: async (bucket, cost, draw) => {
      if (Date.now() >= draw.windowEndsAtMs - REFUND_GUARD_MS) return;
      await this.#limiterFor(bucket).reward(bucket.key, cost);
    },
    failureReason: (error) => `memory limiter failed: ${error instanceof Error ? error.message : String(error)}`,
  };

  consume(buckets: readonly BucketRequest[], cost: number): Promise<LimitOutcome> {
    return consumeBuckets(this.#store, buckets, cost);
  }

  async close(): Promise<void> {
    this.#pool.clear();
  }

  #limiterFor(bucket: BucketRequest): RateLimiterMemory {
    return this.#pool.get(bucket.windowSeconds, bucket.limit.requests);
  }
}
