/**
 * All-or-nothing consumption of several buckets, shared by the memory and Redis limiters.
 *
 * Algorithm (rate-limiter-flexible, both stores): a FIXED WINDOW per bucket. The first draw creates a counter
 * that lives `windowSeconds`; each draw adds its cost; a draw is refused when the counter passes the limit;
 * when the counter expires the next draw opens a new window. Windows start at a bucket's first draw, not at
 * clock boundaries (a 1d window is "24 h from the first request", not "until midnight"). msBeforeNext is the
 * time until that counter expires, i.e. when the whole quota comes back, which is what RateLimit `t`,
 * X-RateLimit-Reset and Retry-After report.
 *
 * Burst at the boundary: a client may spend the full limit at the end of one window and again at the start
 * of the next, so up to 2 x limit can pass within any span of one window length that straddles a reset.
 * That is the price of one counter and one round trip per bucket; pair a long window with a short one
 * (10/s with 10 000/d) when bursts matter.
 *
 * Refunds: rate-limiter-flexible counts refused draws too. When any bucket refuses, every draw of the
 * request is given back, in the accepting buckets (a request refused by the per-second window must not eat
 * the daily quota) and in the refusing ones (an oversized request, or a retry loop, must not keep the
 * bucket above its limit and lock the client out for the rest of a long window). Draw-then-refund never
 * lets more through than the limit: a draw passes only if the counter, including every earlier draw that
 * was not refunded yet, fits.
 */
import { andThen, isPromise, type MaybePromise } from '../core/maybe-promise.js';
import { type BucketStore, type Draw, StoreFailure } from './bucket-store.js';
import type { BucketRequest, BucketState, LimitOutcome } from './limiter.js';

/** Synchronous when the store is (memory); otherwise settles once every draw has. */
export function consumeBuckets(store: BucketStore, buckets: readonly BucketRequest[], cost: number): MaybePromise<LimitOutcome> {
  if (!Number.isSafeInteger(cost) || cost < 1) throw new RangeError(`rate-limit cost must be a positive integer, got ${cost}`);
  const n = buckets.length;
  if (n === 0) return { kind: 'allowed', buckets: [] };

  const draws = new Array<MaybePromise<Draw | StoreFailure>>(n);
  let waiting = false;
  for (let i = 0; i < n; i++) {
    const draw = drawSafely(store, buckets[i]!, cost);
    draws[i] = draw;
    if (isPromise(draw)) waiting = true;
  }
  if (!waiting) return settle(store, buckets, cost, draws as (Draw | StoreFailure)[]);
  return Promise.all(draws).then(
    (results) => settle(store, buckets, cost, results),
    // Only a store breaking its never-reject contract gets here; still an answer, not an exception.
    (error: unknown): LimitOutcome => ({ kind: 'unavailable', reason: store.failureReason(error) }),
  );
}

function settle(store: BucketStore, buckets: readonly BucketRequest[], cost: number, results: readonly (Draw | StoreFailure)[]): MaybePromise<LimitOutcome> {
  const n = buckets.length;
  let failure: StoreFailure | undefined;
  let refused = false;
  for (let i = 0; i < n; i++) {
    const result = results[i]!;
    if (result instanceof StoreFailure) failure ??= result;
    else if (result.consumed > buckets[i]!.limit.requests) refused = true;
  }

  if (failure) {
    // The answer is "could not decide" whatever the other buckets said; give their points back in the
    // background so the caller is not held up by a store that is already failing.
    void refundAll(store, buckets, cost, results);
    return { kind: 'unavailable', reason: store.failureReason(failure.error) };
  }

  const draws = results as readonly Draw[];
  if (!refused) {
    const states = new Array<BucketState>(n);
    for (let i = 0; i < n; i++) states[i] = bucketState(buckets[i]!, draws[i]!.consumed, draws[i]!.msBeforeReset);
    return { kind: 'allowed', buckets: states };
  }

  const refunded = refundAll(store, buckets, cost, draws);
  return andThen(refunded, () => limited(buckets, cost, draws));
}

/** Several buckets may refuse: report the one that keeps the client waiting longest. */
function limited(buckets: readonly BucketRequest[], cost: number, draws: readonly Draw[]): LimitOutcome {
  let violated: BucketState | undefined;
  let longestWaitMs = -Infinity;
  const states = draws.map((draw, i) => {
    const bucket = buckets[i]!;
    const state = bucketState(bucket, draw.consumed - cost, draw.msBeforeReset);
    if (draw.consumed > bucket.limit.requests && draw.msBeforeReset > longestWaitMs) {
      violated = state;
      longestWaitMs = draw.msBeforeReset;
    }
    return state;
  });
  const worst = violated!;
  return { kind: 'limited', buckets: states, violated: worst, retryAfterSeconds: worst.resetSeconds };
}

/** A store that throws despite its contract still yields a failure value here, never an exception. */
function drawSafely(store: BucketStore, bucket: BucketRequest, cost: number): MaybePromise<Draw | StoreFailure> {
  try {
    return store.draw(bucket, cost);
  } catch (error) {
    return new StoreFailure(error);
  }
}

/**
 * Refunds every successful draw; settles when they all have (at once for a store in this process). Never
 * rejects: a lost refund costs the client points, not the request.
 */
function refundAll(store: BucketStore, buckets: readonly BucketRequest[], cost: number, results: readonly (Draw | StoreFailure)[]): MaybePromise<void> {
  let refunds: Promise<unknown>[] | undefined;
  for (let i = 0; i < results.length; i++) {
    const result = results[i]!;
    if (result instanceof StoreFailure) continue;
    try {
      const refund = store.refund(buckets[i]!, cost, result);
      if (isPromise(refund)) (refunds ??= []).push(refund.catch(() => undefined));
    } catch {
      // A store breaking its never-throw contract: the refund is lost, the outcome stands.
    }
  }
  if (refunds !== undefined) return Promise.all(refunds).then(() => undefined);
}

function bucketState(bucket: BucketRequest, consumed: number, msBeforeReset: number): BucketState {
  const limit = bucket.limit.requests;
  return {
    policy: bucket.policy ?? bucket.limit.window,
    limit,
    remaining: Math.max(0, Math.min(limit, limit - consumed)),
    windowSeconds: bucket.windowSeconds,
    resetSeconds: resetSeconds(msBeforeReset, bucket.windowSeconds),
  };
}

/** Whole seconds, rounded up (a client that waits that long finds the window reset), within [1, window]. */
function resetSeconds(msBeforeReset: number, windowSeconds: number): number {
  // Negative: a counter without expiry, which these stores never create; claim the full window.
  if (msBeforeReset < 0) return windowSeconds;
  return Math.min(windowSeconds, Math.max(1, Math.ceil(msBeforeReset / 1000)));
}
