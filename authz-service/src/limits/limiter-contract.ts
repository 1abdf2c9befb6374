/**
 * The behaviour every RateLimiter must show, run by memory-limiter.test.ts and redis-limiter.test.ts
 * against real stores. Not a test file itself: it registers mocha suites when called.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { waitFor } from '../../../test/harness/ports.js';
import { windowSeconds } from '../state/schema.js';
import type { BucketRequest, BucketState, LimitOutcome, RateLimiter } from './limiter.js';

export function bucket(key: string, window: string, requests: number, policy?: string): BucketRequest {
  return { key, limit: { window, requests }, windowSeconds: windowSeconds(window), ...(policy === undefined ? {} : { policy }) };
}

/** A key no other test (or earlier run against a shared store) has used. */
export function freshKey(label: string): string {
  return `c:${label}-${randomBytes(4).toString('hex')}`;
}

export function expectAllowed(outcome: LimitOutcome): readonly BucketState[] {
  if (outcome.kind !== 'allowed') expect.fail(`expected allowed, got ${JSON.stringify(outcome)}`);
  return outcome.buckets;
}

export function expectLimited(outcome: LimitOutcome): Extract<LimitOutcome, { kind: 'limited' }> {
  if (outcome.kind !== 'limited') expect.fail(`expected limited, got ${JSON.stringify(outcome)}`);
  return outcome;
}

export function rateLimiterContract(makeLimiter: () => RateLimiter): void {
  let limiter: RateLimiter;
  beforeEach(() => {
    limiter = makeLimiter();
  });
  afterEach(async () => {
    await limiter.close();
  });

  it('allows up to the limit, then refuses with the window as the wait', async () => {
    const b = bucket(freshKey('limit'), '1m', 3);
    const remaining: number[] = [];
    for (let i = 0; i < 3; i++) remaining.push(expectAllowed(await limiter.consume([b], 1))[0]!.remaining);
    expect(remaining).to.deep.equal([2, 1, 0]);

    const limited = expectLimited(await limiter.consume([b], 1));
    expect(limited.violated).to.include({ policy: '1m', limit: 3, remaining: 0, windowSeconds: 60 });
    expect(limited.retryAfterSeconds).to.be.within(55, 60);
    expect(limited.violated.resetSeconds).to.equal(limited.retryAfterSeconds);
    expect(limited.buckets).to.have.length(1);
  });

  it('reports every bucket of an allowed request, in request order, with its own policy name', async () => {
    const consumer = freshKey('multi');
    const buckets = [bucket(`${consumer}:1s`, '1s', 10), bucket(`${consumer}:1d`, '1d', 10_000), bucket(`${consumer}:key`, '1s', 5, 'key-1s')];
    const states = expectAllowed(await limiter.consume(buckets, 1));
    expect(states.map((s) => [s.policy, s.limit, s.remaining, s.windowSeconds])).to.deep.equal([
      ['1s', 10, 9, 1],
      ['1d', 10_000, 9_999, 86_400],
      ['key-1s', 5, 4, 1],
    ]);
    expect(states[0]!.resetSeconds).to.equal(1);
    expect(states[1]!.resetSeconds).to.be.within(86_390, 86_400);
  });

  it('enforces several windows at once: the shortest refuses first', async () => {
    const consumer = freshKey('windows');
    const buckets = [bucket(`${consumer}:1m`, '1m', 2), bucket(`${consumer}:1h`, '1h', 5)];
    expectAllowed(await limiter.consume(buckets, 1));
    expectAllowed(await limiter.consume(buckets, 1));
    const limited = expectLimited(await limiter.consume(buckets, 1));
    expect(limited.violated.policy).to.equal('1m');
    expect(limited.buckets.map((s) => s.remaining)).to.deep.equal([0, 3]);
  });

  it('refunds the other buckets when one refuses: the daily quota is untouched by per-second denials', async () => {
    const consumer = freshKey('refund');
    const daily = bucket(`${consumer}:1d`, '1d', 100);
    const both = [bucket(`${consumer}:1m`, '1m', 2), daily];
    expectAllowed(await limiter.consume(both, 1));
    expectAllowed(await limiter.consume(both, 1));
    for (let i = 0; i < 10; i++) {
      const limited = expectLimited(await limiter.consume(both, 1));
      expect(limited.violated.policy).to.equal('1m');
      expect(limited.buckets[1]!.remaining).to.equal(98);
    }
    // Only the two allowed requests count against the day.
    expect(expectAllowed(await limiter.consume([daily], 1))[0]!.remaining).to.equal(97);
  });

  it('draws the cost from every bucket, and a refused cost does not stick in the refusing bucket', async () => {
    const consumer = freshKey('cost');
    const buckets = [bucket(`${consumer}:1m`, '1m', 5), bucket(`${consumer}:1h`, '1h', 50)];
    expect(expectAllowed(await limiter.consume(buckets, 3)).map((s) => s.remaining)).to.deep.equal([2, 47]);
    const limited = expectLimited(await limiter.consume(buckets, 3));
    expect(limited.buckets.map((s) => s.remaining)).to.deep.equal([2, 47]);
    expect(expectAllowed(await limiter.consume(buckets, 2)).map((s) => s.remaining)).to.deep.equal([0, 45]);
  });

  it('answers a cost larger than the limit with limited, and leaves the bucket usable', async () => {
    const b = bucket(freshKey('oversize'), '1d', 10);
    const limited = expectLimited(await limiter.consume([b], 11));
    expect(limited.violated).to.include({ policy: '1d', limit: 10, remaining: 10 });
    expect(limited.retryAfterSeconds).to.be.at.least(1);
    expect(expectAllowed(await limiter.consume([b], 1))[0]!.remaining).to.equal(9);
  });

  it('names the bucket with the longest wait when several refuse', async () => {
    const consumer = freshKey('longest');
    const buckets = [bucket(`${consumer}:1m`, '1m', 1), bucket(`${consumer}:1h`, '1h', 1)];
    expectAllowed(await limiter.consume(buckets, 1));
    const limited = expectLimited(await limiter.consume(buckets, 1));
    expect(limited.violated.policy).to.equal('1h');
    expect(limited.retryAfterSeconds).to.be.within(3590, 3600);
  });

  it('opens a new window when the old one ends', async () => {
    const b = bucket(freshKey('reset'), '1s', 2);
    expectAllowed(await limiter.consume([b], 1));
    expectAllowed(await limiter.consume([b], 1));
    const limited = expectLimited(await limiter.consume([b], 1));
    expect(limited.retryAfterSeconds).to.equal(1);
    // Refused polls are refunded, so polling does not push the reset further out.
    await waitFor(async () => (await limiter.consume([b], 1)).kind === 'allowed', 'the 1s window to reset', 5_000, 100);
    expect(expectAllowed(await limiter.consume([b], 1))[0]!.remaining).to.equal(0);
  });

  it('keeps distinct bucket keys independent', async () => {
    const a = bucket(freshKey('a'), '1m', 1);
    const b = bucket(freshKey('b'), '1m', 1);
    expectAllowed(await limiter.consume([a], 1));
    expectLimited(await limiter.consume([a], 1));
    expectAllowed(await limiter.consume([b], 1));
  });

  it('keeps the same key under different windows apart', async () => {
    const key = freshKey('same');
    expectAllowed(await limiter.consume([bucket(key, '1m', 1)], 1));
    expectAllowed(await limiter.consume([bucket(key, '1h', 1)], 1));
    expectLimited(await limiter.consume([bucket(key, '1m', 1)], 1));
  });

  it('allows a request with no buckets and rejects a cost that is not a positive integer', async () => {
    expect(await limiter.consume([], 1)).to.deep.equal({ kind: 'allowed', buckets: [] });
    const b = bucket(freshKey('badcost'), '1m', 5);
    for (const cost of [0, -1, 1.5, Number.NaN]) {
      let error: unknown;
      try {
        await limiter.consume([b], cost);
      } catch (e) {
        error = e;
      }
      expect(error, `cost ${cost}`).to.be.instanceOf(RangeError);
    }
  });
}
