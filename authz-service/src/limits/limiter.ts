/**
 * Rate buckets. A request draws `cost` points from every bucket that applies to it (each window of the
 * plan, keyed by consumer or key, plus per-key windows); it passes only if every bucket has room.
 */
import type { MaybePromise } from '../core/maybe-promise.js';
import type { LimitSpec } from '../state/schema.js';

export interface BucketRequest {
  /** Stable bucket identity, e.g. "c:<consumer>:1s". Never contains a secret. */
  readonly key: string;
  readonly limit: LimitSpec;
  /** Window length in seconds (derived from limit.window once, at compile time). */
  readonly windowSeconds: number;
  /**
   * Policy name in RateLimit headers; default limit.window ("1s"). Set it when two buckets of one request
   * share a window (a plan's 1s and a key's own 1s), so clients can tell them apart.
   */
  readonly policy?: string;
}

export interface BucketState {
  /** Policy name for RateLimit headers: the window, e.g. "1s", "1d". */
  readonly policy: string;
  readonly limit: number;
  readonly remaining: number;
  readonly windowSeconds: number;
  /** Seconds until this bucket's window resets. */
  readonly resetSeconds: number;
}

export type LimitOutcome =
  | { readonly kind: 'allowed'; readonly buckets: readonly BucketState[] }
  | { readonly kind: 'limited'; readonly buckets: readonly BucketState[]; readonly violated: BucketState; readonly retryAfterSeconds: number }
  /** The store could not answer (Redis down or slow). The core applies the route's fail_mode. */
  | { readonly kind: 'unavailable'; readonly reason: string };

export interface RateLimiter {
  /** Kind label for metrics and logs: "memory" or "redis". */
  readonly kind: string;
  /** Synchronous for the in-memory store, a promise for Redis (see core/maybe-promise.ts). */
  consume(buckets: readonly BucketRequest[], cost: number): MaybePromise<LimitOutcome>;
  close(): Promise<void>;
}
