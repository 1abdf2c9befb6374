import { expect } from 'chai';
import { waitFor } from '../../../test/harness/ports.js';
import { bucket, expectAllowed, expectLimited, freshKey, rateLimiterContract } from './limiter-contract.js';
import type { LimitOutcome } from './limiter.js';
import { MemoryRateLimiter } from './memory-limiter.js';

/** The memory store answers synchronously: a promise here would put a microtask back on every decision. */
function now(outcome: LimitOutcome | Promise<LimitOutcome>): LimitOutcome {
  if (outcome instanceof Promise) expect.fail('the memory limiter returned a promise');
  return outcome;
}

describe('MemoryRateLimiter', () => {
  rateLimiterContract(() => new MemoryRateLimiter());

  it('keeps counters per limiter instance (per replica)', async () => {
    const b = bucket(freshKey('replica'), '1m', 1);
    const one = new MemoryRateLimiter();
    const two = new MemoryRateLimiter();
    expectAllowed(now(one.consume([b], 1)));
    expectLimited(now(one.consume([b], 1)));
    expectAllowed(now(two.consume([b], 1)));
    expect(one.kind).to.equal('memory');
    await Promise.all([one.close(), two.close()]);
  });

  describe('with a controlled clock', () => {
    let clock = 1_000_000;
    let limiter: MemoryRateLimiter;
    beforeEach(() => {
      clock = 1_000_000;
      limiter = new MemoryRateLimiter({ clock: () => clock });
    });
    afterEach(() => limiter.close());

    it('reports the exact time left in the window', () => {
      const b = bucket('c:t|svc|1m', '1m', 5);
      expectAllowed(now(limiter.consume([b], 1)));
      clock += 20_500;
      const [state] = expectAllowed(now(limiter.consume([b], 1)));
      expect(state).to.include({ remaining: 3, resetSeconds: 40 });
    });

    it('refunds only into the window the points were drawn from: a refusal at a window edge never leaves a negative count', () => {
      const minute = bucket('c:edge|svc|1m', '1m', 1);
      const day = bucket('c:edge|svc|1d', '1d', 100);
      expectAllowed(now(limiter.consume([minute, day], 1)));
      // the per-minute window refuses and both draws are refunded at once, in the same windows
      expectLimited(now(limiter.consume([minute, day], 1)));
      clock += 60_000; // the minute window is over; a fresh one opens with the next draw
      const [m, d] = expectAllowed(now(limiter.consume([minute, day], 1)));
      expect(m!.remaining).to.equal(0);
      expect(d!.remaining).to.equal(98);
      expectLimited(now(limiter.consume([minute, day], 1)));
    });

    it('forgets counters whose window is over, in the background', async () => {
      for (let i = 0; i < 50; i++) now(limiter.consume([bucket(`c:sweep-${i}|svc|1s`, '1s', 10)], 1));
      now(limiter.consume([bucket('c:keeps|svc|1d', '1d', 10)], 1));
      expect(limiter.size).to.equal(51);
      clock += 1_000;
      await waitFor(async () => limiter.size === 1, 'expired counters to be swept', 3_000, 20);
      const [state] = expectAllowed(now(limiter.consume([bucket('c:keeps|svc|1d', '1d', 10)], 1)));
      expect(state!.remaining).to.equal(8);
    });
  });
});
