/**
 * Client-facing rate-limit headers from bucket states. Runs on every allowed request: plain string
 * building, no structured-field library.
 *
 * RateLimit-Policy and RateLimit follow draft-ietf-httpapi-ratelimit-headers-11 (23 May 2026; it renames
 * r/t to "available quota"/"effective window" but keeps the syntax of -10): each is a structured-field List
 * (RFC 9651) with one item per bucket, the item a String naming the policy, e.g.
 *   RateLimit-Policy: "1s";q=10;w=1, "1d";q=10000;w=86400     (q quota, w window in seconds)
 *   RateLimit: "1s";r=3;t=1, "1d";r=9990;t=86399             (r available quota, t seconds until reset)
 * The draft's `t` is "the time within which the client can use no more than the available quota", which
 * for a fixed window is the time until the window resets. Retry-After (delay-seconds) accompanies a
 * refusal and equals the violated bucket's `t`, as the draft asks (never earlier than the effective window).
 *
 * The older, still widely parsed X-RateLimit-Limit / -Remaining / -Reset (seconds) describe the one most
 * constraining bucket: the refused one, else the one with the fewest points left.
 */
import type { HeaderPair } from '../core/decision.js';
import type { BucketState, LimitOutcome } from './limiter.js';

export function rateLimitHeaders(outcome: LimitOutcome): HeaderPair[] {
  if (outcome.kind === 'unavailable' || outcome.buckets.length === 0) return [];
  const buckets = outcome.buckets;
  let policy = '';
  let current = '';
  for (let i = 0; i < buckets.length; i++) {
    const bucket = buckets[i]!;
    const name = sfString(bucket.policy);
    const separator = i === 0 ? '' : ', ';
    policy += `${separator}${name};q=${bucket.limit};w=${bucket.windowSeconds}`;
    current += `${separator}${name};r=${bucket.remaining};t=${bucket.resetSeconds}`;
  }
  const tightest = outcome.kind === 'limited' ? outcome.violated : mostConstraining(buckets);
  const headers: HeaderPair[] = [
    ['RateLimit-Policy', policy],
    ['RateLimit', current],
    ['X-RateLimit-Limit', String(tightest.limit)],
    ['X-RateLimit-Remaining', String(tightest.remaining)],
    ['X-RateLimit-Reset', String(tightest.resetSeconds)],
  ];
  if (outcome.kind === 'limited') headers.push(['Retry-After', String(outcome.retryAfterSeconds)]);
  return headers;
}

/** Fewest points left; on a tie, the longer wait. */
function mostConstraining(buckets: readonly BucketState[]): BucketState {
  let tightest = buckets[0]!;
  for (let i = 1; i < buckets.length; i++) {
    const bucket = buckets[i]!;
    if (bucket.remaining < tightest.remaining || (bucket.remaining === tightest.remaining && bucket.resetSeconds > tightest.resetSeconds)) {
      tightest = bucket;
    }
  }
  return tightest;
}

const SF_STRING_SAFE = /^[\x20\x21\x23-\x5b\x5d-\x7e]*$/;

/** RFC 9651 sf-string: printable ASCII, with `"` and `\` escaped; anything else becomes "?". */
function sfString(value: string): string {
  if (SF_STRING_SAFE.test(value)) return `"${value}"`;
  return `"${value.replace(/[^\x20-\x7e]/g, '?').replace(/["\\]/g, (c) => `\\${c}`)}"`;
}
