import { expect } from 'chai';
import { bucket, expectAllowed, expectLimited, freshKey, rateLimiterContract } from './limiter-contract.js';
import { MemoryRateLimiter } from './memory-limiter.js';

describe('MemoryRateLimiter', () => {
  rateLimiterContract(() => new MemoryRateLimiter());

  it('keeps counters per limiter instance (per replica)', async () => {
    const b = bucket(freshKey('replica'), '1m', 1);
    const one = new MemoryRateLimiter();
    const two = new MemoryRateLimiter();
    expectAllowed(await one.consume([b], 1));
    expectLimited(await one.consume([b], 1));
    expectAllowed(await two.consume([b], 1));
    expect(one.kind).to.equal('memory');
    await Promise.all([one.close(), two.close()]);
  });
});
