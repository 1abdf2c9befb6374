/**
 * The counter storage a RateLimiter sits on: one atomic draw per bucket, and a refund. The multi-bucket
 * rules (all or nothing, refunds, which bucket is reported) live once in consume-buckets.ts; a store only
 * knows how to count.
 */
import { RateLimiterRes } from 'rate-limiter-flexible';
import type { MaybePromise } from '../core/maybe-promise.js';
import type { BucketRequest } from './limiter.js';

/** A bucket's counter right after a draw. */
export interface Draw {
  /** Points used in the current window, this draw included; above the limit when the draw was refused. */
  readonly consumed: number;
  /** Milliseconds until the window resets (rate-limiter-flexible's msBeforeNext). */
  readonly msBeforeReset: number;
  /**
   * Local epoch ms at or before which the window ends: the clock was read before the draw was sent, so
   * this never lies late. Lets a store skip refunds into a window that is over.
   */
  readonly windowEndsAtMs: number;
}

/** The store could not answer (down, slow, refused the command). A value, not an exception. */
export class StoreFailure {
  constructor(readonly error: unknown) {}
}

export interface BucketStore {
  /**
   * Counts `cost` into the bucket. An over-limit draw resolves like any other (consumed > limit); an
   * unreachable store resolves a StoreFailure. Never rejects. A store in this process answers at once.
   */
  draw(bucket: BucketRequest, cost: number): MaybePromise<Draw | StoreFailure>;
  /**
   * Gives `cost` back to the window `draw` counted it in. Must not open a new window with a negative
   * count when that window has ended meanwhile (that would hand out extra points). Never rejects: a
   * refund that fails is the store's to report.
   */
  refund(bucket: BucketRequest, cost: number, draw: Draw): MaybePromise<void>;
  /** Short, secret-free description of a store failure for `unavailable` outcomes and logs. */
  failureReason(error: unknown): string;
}

/** The rate-limiter-flexible call shape the Redis store draws through (RateLimiterRedis.consume). */
interface Consumer {
  consume(key: string, points: number): Promise<RateLimiterRes>;
}

/**
 * rate-limiter-flexible resolves an allowed consume, rejects an over-limit one with the counter (a
 * RateLimiterRes) and a store failure with an Error. One promise hop turns the three into values.
 */
export function drawFrom(limiter: Consumer, key: string, cost: number): Promise<Draw | StoreFailure> {
  const startedAtMs = Date.now();
  const toDraw = (res: RateLimiterRes): Draw => ({
    consumed: res.consumedPoints,
    msBeforeReset: res.msBeforeNext,
    windowEndsAtMs: startedAtMs + res.msBeforeNext,
  });
  try {
    return limiter.consume(key, cost).then(toDraw, (rejection: unknown) => (rejection instanceof RateLimiterRes ? toDraw(rejection) : new StoreFailure(rejection)));
  } catch (error) {
    return Promise.resolve(new StoreFailure(error));
  }
}

/**
 * One limiter-library instance per distinct (windowSeconds, points) pair, created on first use and kept:
 * the pairs come from configuration, so the set stays small. Nested maps avoid building a string key on
 * every request.
 */
export class LimiterPool<L> {
  readonly #byWindow = new Map<number, Map<number, L>>();

  constructor(private readonly create: (windowSeconds: number, points: number) => L) {}

  get(windowSeconds: number, points: number): L {
    let byPoints = this.#byWindow.get(windowSeconds);
    if (!byPoints) {
      byPoints = new Map();
      this.#byWindow.set(windowSeconds, byPoints);
    }
    let limiter = byPoints.get(points);
    if (!limiter) {
      limiter = this.create(windowSeconds, points);
      byPoints.set(points, limiter);
    }
    return limiter;
  }

  get size(): number {
    let n = 0;
    for (const byPoints of this.#byWindow.values()) n += byPoints.size;
    return n;
  }

  clear(): void {
    this.#byWindow.clear();
  }
}
