import { expect } from 'chai';
import type { Redis } from 'ioredis';
import { waitFor } from '../../../test/harness/ports.js';
import { SHARED_REDIS_URL, uniquePrefix } from '../../../test/harness/redis.js';
import { bucket, expectAllowed, expectLimited, freshKey, rateLimiterContract } from './limiter-contract.js';
import { createRedisClient, redactRedisUrl, whenRedisReady } from './redis-client.js';
import { DEFAULT_REDIS_PREFIX, RedisRateLimiter, redisFailureReason } from './redis-limiter.js';

/** Shared test server, busy machine: a generous command timeout so only real failures fail. */
async function readyClient(): Promise<Redis> {
  const client = createRedisClient(SHARED_REDIS_URL, { commandTimeoutMs: 5_000 });
  if (!(await whenRedisReady(client, 10_000))) throw new Error('shared Redis is not reachable');
  return client;
}

describe('RedisRateLimiter (shared Redis)', function () {
  const clients: Redis[] = [];
  let admin: Redis;
  let prefix: string;

  async function makeLimiter(): Promise<RedisRateLimiter> {
    const client = await readyClient();
    clients.push(client);
    return new RedisRateLimiter({ client, prefix });
  }

  before(async () => {
    admin = await readyClient();
  });
  after(async () => {
    await admin.quit();
  });
  beforeEach(() => {
    prefix = uniquePrefix('limits');
  });
  afterEach(async () => {
    // Remove our own keys only (never FLUSHDB on the shared server).
    const keys = await admin.keys(`${prefix}*`);
    if (keys.length > 0) await admin.del(...keys);
    await Promise.all(clients.splice(0).map((c) => (c.status === 'ready' ? c.quit() : c.disconnect())));
  });

  describe('contract', () => {
    // One client shared by the contract's limiters, so close() must leave it open.
    rateLimiterContract(() => new RedisRateLimiter({ client: admin, prefix, closeClient: false }));
  });

  it('stores one counter per bucket under <prefix><window>s:<key>, expiring with the window', async () => {
    const limiter = await makeLimiter();
    const key = freshKey('layout');
    expectAllowed(await limiter.consume([bucket(key, '1m', 10), bucket(key, '1h', 10)], 2));
    expect(await admin.get(`${prefix}60s:${key}`)).to.equal('2');
    expect(await admin.get(`${prefix}3600s:${key}`)).to.equal('2');
    const ttl = await admin.pttl(`${prefix}60s:${key}`);
    expect(ttl).to.be.within(55_000, 60_000);
    expect(DEFAULT_REDIS_PREFIX).to.equal('pc:rl:');
  });

  it('never lets more than the limit through under 200 concurrent requests', async () => {
    const limiter = await makeLimiter();
    const b = bucket(freshKey('burst'), '1m', 50);
    const outcomes = await Promise.all(Array.from({ length: 200 }, () => limiter.consume([b], 1)));
    const kinds = outcomes.map((o) => o.kind);
    expect(kinds.filter((k) => k === 'allowed')).to.have.length(50);
    expect(kinds.filter((k) => k === 'limited')).to.have.length(150);
    // Refused draws were refunded: the counter holds exactly the allowed ones.
    expect(await admin.get(`${prefix}60s:${b.key}`)).to.equal('50');
  });

  it('shares buckets between replicas', async () => {
    const replicaA = await makeLimiter();
    const replicaB = await makeLimiter();
    const b = bucket(freshKey('replicas'), '1m', 4);
    const outcomes = await Promise.all(Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? replicaA : replicaB).consume([b], 1)));
    expect(outcomes.filter((o) => o.kind === 'allowed')).to.have.length(4);
    expectLimited(await replicaA.consume([b], 1));
    expectLimited(await replicaB.consume([b], 1));
  });

  it('never revives an ended window with a refund', async () => {
    const limiter = await makeLimiter();
    const client = clients[0]! as Redis & { pcRateLimitRefund(key: string, points: number): Promise<number | null> };
    const key = `${prefix}60s:${freshKey('refund')}`;
    expect(await client.pcRateLimitRefund(key, 3)).to.equal(null);
    expect(await client.exists(key)).to.equal(0);
    await client.set(key, '5', 'EX', 60);
    expect(await client.pcRateLimitRefund(key, 3)).to.equal(2);
    expect(await client.pttl(key)).to.be.greaterThan(50_000);
    await limiter.close();
  });

  it('answers unavailable when one bucket fails, and gives the others their points back', async () => {
    const errors: string[] = [];
    const client = await readyClient();
    clients.push(client);
    const limiter = new RedisRateLimiter({ client, prefix, onStoreError: (source, reason) => errors.push(`${source}: ${reason}`) });
    const consumer = freshKey('partial');
    // A counter holding something INCRBY refuses: that bucket's command fails, the other one succeeds.
    await admin.set(`${prefix}3600s:${consumer}`, 'not-a-number', 'EX', 60);
    const outcome = await limiter.consume([bucket(consumer, '1m', 10), bucket(consumer, '1h', 10)], 1);
    expect(outcome.kind).to.equal('unavailable');
    expect(outcome.kind === 'unavailable' && outcome.reason).to.match(/^redis error: .*not an integer/);
    expect(errors).to.have.length(1);
    expect(errors[0]).to.match(/^command: redis error/);
    await waitFor(async () => (await admin.get(`${prefix}60s:${consumer}`)) === '0', 'the healthy bucket to be refunded');
  });

  it('closes the client it owns, and answers unavailable afterwards', async () => {
    const limiter = await makeLimiter();
    await limiter.close();
    await waitFor(() => clients[0]!.status === 'end', 'the owned client to end');
    expect(await limiter.consume([bucket(freshKey('closed'), '1m', 1)], 1)).to.deep.include({ kind: 'unavailable' });
  });

  it('describes failures without secrets', () => {
    expect(redisFailureReason(new Error('Command timed out'))).to.equal('redis command timed out');
    expect(redisFailureReason(new Error("Stream isn't writeable and enableOfflineQueue options is false"))).to.equal('redis not connected');
    expect(redisFailureReason(Object.assign(new Error('connect ECONNREFUSED 10.0.0.1:6379'), { code: 'ECONNREFUSED' }))).to.equal(
      'redis connection failed (ECONNREFUSED)',
    );
    expect(redisFailureReason(new Error('cannot reach redis://app:hunter2@cache:6379'))).to.not.include('hunter2');
    expect(redactRedisUrl('redis://app:hunter2@cache:6379/0')).to.equal('redis://app:***@cache:6379/0');
    expect(redactRedisUrl('not a url :hunter2')).to.not.include('hunter2');
  });
});
