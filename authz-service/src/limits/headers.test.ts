import { expect } from 'chai';
import { rateLimitHeaders } from './headers.js';
import { bucket } from './limiter-contract.js';
import { MemoryRateLimiter } from './memory-limiter.js';
import type { BucketState, LimitOutcome } from './limiter.js';

const perSecond: BucketState = { policy: '1s', limit: 10, remaining: 3, windowSeconds: 1, resetSeconds: 1 };
const perDay: BucketState = { policy: '1d', limit: 10_000, remaining: 9_990, windowSeconds: 86_400, resetSeconds: 86_000 };

describe('rateLimitHeaders', () => {
  it('describes every bucket and the most constraining one on an allow', () => {
    expect(rateLimitHeaders({ kind: 'allowed', buckets: [perSecond, perDay] })).to.deep.equal([
      ['RateLimit-Policy', '"1s";q=10;w=1, "1d";q=10000;w=86400'],
      ['RateLimit', '"1s";r=3;t=1, "1d";r=9990;t=86000'],
      ['X-RateLimit-Limit', '10'],
      ['X-RateLimit-Remaining', '3'],
      ['X-RateLimit-Reset', '1'],
    ]);
  });

  it('picks the bucket with the fewest points left, the longer wait on a tie', () => {
    const almostOutForTheDay: BucketState = { ...perDay, remaining: 2 };
    const headers = new Map(rateLimitHeaders({ kind: 'allowed', buckets: [perSecond, almostOutForTheDay] }));
    expect([headers.get('X-RateLimit-Limit'), headers.get('X-RateLimit-Remaining'), headers.get('X-RateLimit-Reset')]).to.deep.equal(['10000', '2', '86000']);

    const tie = new Map(rateLimitHeaders({ kind: 'allowed', buckets: [perSecond, { ...perDay, remaining: 3 }] }));
    expect(tie.get('X-RateLimit-Reset')).to.equal('86000');
  });

  it('reports the violated bucket and Retry-After on a refusal', () => {
    const exhausted: BucketState = { ...perSecond, remaining: 0 };
    const outcome: LimitOutcome = { kind: 'limited', buckets: [exhausted, perDay], violated: exhausted, retryAfterSeconds: 1 };
    expect(rateLimitHeaders(outcome)).to.deep.equal([
      ['RateLimit-Policy', '"1s";q=10;w=1, "1d";q=10000;w=86400'],
      ['RateLimit', '"1s";r=0;t=1, "1d";r=9990;t=86000'],
      ['X-RateLimit-Limit', '10'],
      ['X-RateLimit-Remaining', '0'],
      ['X-RateLimit-Reset', '1'],
      ['Retry-After', '1'],
    ]);
  });

  it('reports the violated bucket even when another has fewer points left', () => {
    // An oversized request refused by the daily bucket while the per-second bucket is nearly empty.
    const outcome: LimitOutcome = { kind: 'limited', buckets: [{ ...perSecond, remaining: 1 }, perDay], violated: perDay, retryAfterSeconds: 86_000 };
    const headers = new Map(rateLimitHeaders(outcome));
    expect([headers.get('X-RateLimit-Limit'), headers.get('X-RateLimit-Remaining'), headers.get('Retry-After')]).to.deep.equal(['10000', '9990', '86000']);
  });

  it('sends nothing when there is nothing to describe', () => {
    expect(rateLimitHeaders({ kind: 'allowed', buckets: [] })).to.deep.equal([]);
    expect(rateLimitHeaders({ kind: 'unavailable', reason: 'redis not connected' })).to.deep.equal([]);
  });

  it('writes policy names as valid structured-field strings', () => {
    const odd: BucketState = { ...perSecond, policy: 'key "a"\\b\u00e9' };
    expect(rateLimitHeaders({ kind: 'allowed', buckets: [odd] })[0]).to.deep.equal(['RateLimit-Policy', '"key \\"a\\"\\\\b?";q=10;w=1']);
  });
});

describe('rateLimitHeaders from a real limiter outcome', () => {
  it('matches what the memory limiter reports for a fresh consumer', async () => {
    const limiter = new MemoryRateLimiter();
    const outcome = await limiter.consume([bucket('c:fresh:1s', '1s', 10), bucket('c:fresh:1d', '1d', 10_000)], 1);
    expect(rateLimitHeaders(outcome).slice(0, 2)).to.deep.equal([
      ['RateLimit-Policy', '"1s";q=10;w=1, "1d";q=10000;w=86400'],
      ['RateLimit', '"1s";r=9;t=1, "1d";r=9999;t=86400'],
    ]);
    await limiter.close();
  });
});
