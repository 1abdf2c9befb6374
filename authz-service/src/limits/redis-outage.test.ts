/**
 * Redis dies, stalls and comes back under a live RedisRateLimiter (private redis-server; the shared one is
 * never touched). The limiter must answer `unavailable` promptly, never throw or leak a rejection, and
 * recover by itself.
 */
import { expect } from 'chai';
import { Redis } from 'ioredis';
import { waitFor } from '../../../test/harness/ports.js';
import { PrivateRedis, uniquePrefix } from '../../../test/harness/redis.js';
import { bucket, expectAllowed, expectLimited, freshKey } from './limiter-contract.js';
import type { LimitOutcome } from './limiter.js';
import { createRedisClient, whenRedisReady } from './redis-client.js';
import { RedisRateLimiter, type StoreErrorSource } from './redis-limiter.js';

/** Generous: the client's command timeout is 200 ms; a busy CI machine gets the rest. */
const PROMPT_MS = 1_000;

async function timed(run: () => LimitOutcome | Promise<LimitOutcome>): Promise<{ outcome: LimitOutcome; ms: number }> {
  const started = performance.now();
  const outcome = await run();
  return { outcome, ms: performance.now() - started };
}

describe('RedisRateLimiter when Redis fails', function () {
  this.timeout(60_000);

  let redis: PrivateRedis;
  let limiter: RedisRateLimiter;
  let limiterClient: Redis;
  let errors: { source: StoreErrorSource; reason: string }[];
  const escaped: unknown[] = [];
  const onEscape = (error: unknown): void => {
    escaped.push(error);
  };

  before(async () => {
    process.on('unhandledRejection', onEscape);
    process.on('uncaughtException', onEscape);
    redis = await PrivateRedis.start();
  });
  after(async () => {
    process.off('unhandledRejection', onEscape);
    process.off('uncaughtException', onEscape);
    await redis.stop();
  });

  beforeEach(async () => {
    await redis.restart();
    errors = [];
    escaped.length = 0;
    const client = createRedisClient(redis.url, { commandTimeoutMs: 200, reconnectMaxDelayMs: 200, socketTimeoutMs: 500 });
    limiterClient = client;
    limiter = new RedisRateLimiter({ client, prefix: uniquePrefix('outage'), onStoreError: (source, reason) => errors.push({ source, reason }) });
    expect(await whenRedisReady(client, 10_000)).to.equal(true);
  });
  afterEach(async () => {
    await limiter.close();
    // Anything that escaped would surface within a tick or two of the last failure.
    await new Promise((r) => setTimeout(r, 50));
    expect(escaped, 'unhandled rejections / uncaught exceptions').to.deep.equal([]);
  });

  it('answers unavailable promptly while Redis is down, and enforces again once it is back', async () => {
    const key = freshKey('killed');
    const b = bucket(key, '1h', 3);
    expectAllowed(await limiter.consume([b], 1));

    await redis.kill();
    // In flight when the connection drops, sequential, and concurrent: every one fails fast.
    const inFlight = timed(() => limiter.consume([b], 1));
    const sequential = [];
    for (let i = 0; i < 5; i++) sequential.push(await timed(() => limiter.consume([b], 1)));
    const concurrent = await Promise.all(Array.from({ length: 50 }, () => timed(() => limiter.consume([b, bucket(key, '1s', 10)], 1))));
    for (const { outcome, ms } of [await inFlight, ...sequential, ...concurrent]) {
      expect(outcome.kind).to.equal('unavailable');
      expect(ms).to.be.below(PROMPT_MS);
    }
    const reasons = new Set(concurrent.map(({ outcome }) => (outcome.kind === 'unavailable' ? outcome.reason : '')));
    expect([...reasons].every((r) => r.startsWith('redis '))).to.equal(true);
    expect(errors.some((e) => e.source === 'command')).to.equal(true);
    expect(limiter.storeErrors).to.equal(errors.length);

    await redis.restart();
    // Recovers without help: reconnect, script reload (EVAL on the new connection), counting from zero.
    await waitFor(async () => (await limiter.consume([bucket(freshKey('probe'), '1h', 100)], 1)).kind === 'allowed', 'the limiter to recover', 10_000, 50);
    const fresh = bucket(freshKey('after'), '1h', 2);
    expectAllowed(await limiter.consume([fresh], 1));
    expectAllowed(await limiter.consume([fresh], 1));
    expectLimited(await limiter.consume([fresh], 1));
  });

  it('answers unavailable within the command timeout while Redis is stalled, then recovers', async () => {
    const b = bucket(freshKey('stalled'), '1h', 100);
    expectAllowed(await limiter.consume([b], 1));

    // A busy Lua script blocks the server for 1.5 s: the socket stays open but nothing answers.
    const blocker = new Redis(redis.url, { maxRetriesPerRequest: 0 });
    blocker.on('error', () => undefined);
    const stall = blocker.eval(
      "local t = redis.call('time'); local stop = t[1] * 1000000 + t[2] + 1500000; repeat t = redis.call('time') until t[1] * 1000000 + t[2] >= stop; return 1",
      0,
    );
    await new Promise((r) => setTimeout(r, 100));
    const stalled = await Promise.all(Array.from({ length: 20 }, () => timed(() => limiter.consume([b], 1))));
    for (const { outcome, ms } of stalled) {
      expect(outcome.kind).to.equal('unavailable');
      expect(ms).to.be.below(PROMPT_MS);
    }
    expect(stalled.some(({ outcome }) => outcome.kind === 'unavailable' && outcome.reason === 'redis command timed out')).to.equal(true);

    await stall;
    blocker.disconnect();
    await waitFor(async () => (await limiter.consume([b], 1)).kind === 'allowed', 'the limiter to recover', 10_000, 50);
  });

  it('answers unavailable at once when Redis is down before the first request', async () => {
    await redis.kill();
    // the client learns of the crash from its socket closing, a tick or more after the kill
    await waitFor(() => limiterClient.status !== 'ready', 'the client to notice the crash', 5_000, 5);
    expect(await whenRedisReady(limiterClient, 300)).to.equal(false);
    const { outcome, ms } = await timed(() => limiter.consume([bucket(freshKey('cold'), '1m', 5)], 1));
    expect(outcome.kind).to.equal('unavailable');
    expect(ms).to.be.below(PROMPT_MS);
    await waitFor(() => errors.some((e) => e.source === 'connection'), 'a connection error report');
  });
});
