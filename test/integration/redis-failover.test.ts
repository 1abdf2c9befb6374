/**
 * The decision core over a real Redis that dies mid-test: fail_mode open keeps enforcing through the
 * per-replica insurance limiter, fail_mode closed answers 503, authentication is never relaxed, and the
 * shared buckets come back by themselves when Redis does.
 */
import { expect } from 'chai';
import { KeyHasher, generateApiKey } from '../../authz-service/src/credentials/api-key/format.js';
import { ApiKeyResolver } from '../../authz-service/src/credentials/api-key/resolver.js';
import type { Decision } from '../../authz-service/src/core/decision.js';
import { PipelineEngine } from '../../authz-service/src/core/pipeline.js';
import type { NormalizedRequest } from '../../authz-service/src/core/request.js';
import { MemoryRateLimiter } from '../../authz-service/src/limits/memory-limiter.js';
import { createRedisClient, whenRedisReady } from '../../authz-service/src/limits/redis-client.js';
import { RedisRateLimiter } from '../../authz-service/src/limits/redis-limiter.js';
import { compileState } from '../../authz-service/src/state/compile.js';
import { waitFor } from '../harness/ports.js';
import { PrivateRedis, uniquePrefix } from '../harness/redis.js';

describe('decision core with Redis buckets when Redis dies', function () {
  this.timeout(60_000);
  const hasher = new KeyHasher('failover-test-pepper-0123456789abcdef');
  const alice = generateApiKey('pc').key;
  const revoked = generateApiKey('pc').key;
  const compiled = compileState({
    plans: [{ name: 'p', limits: [{ window: '1h', requests: 3 }] }],
    services: [
      { name: 'open', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/open' }, plan: 'p', fail_mode: 'open' },
      { name: 'closed', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/closed' }, plan: 'p', fail_mode: 'closed' },
    ],
    consumers: [{ id: 'c', name: 'alice' }],
    keys: [
      { id: 'k', consumer_id: 'c', secrets: [{ hash: hasher.hash(alice) }] },
      { id: 'r', consumer_id: 'c', secrets: [{ hash: hasher.hash(revoked) }], revoked: true },
    ],
  });
  if (!compiled.ok) throw new Error(compiled.errors.join('\n'));
  const state = compiled.state;

  let redis: PrivateRedis;
  let engine: PipelineEngine;
  let primary: RedisRateLimiter;
  const request = (path: string, key: string): NormalizedRequest => ({
    method: 'POST', scheme: 'http', host: 'h', path, query: '', clientIp: '127.0.0.1', headers: { 'x-api-key': key }, adapter: 'forward_auth',
  });
  const outcome = (d: Decision) => (d.kind === 'allow' ? 'allow' : d.code);

  before(async () => {
    redis = await PrivateRedis.start();
    const client = createRedisClient(redis.url, { commandTimeoutMs: 200, reconnectMaxDelayMs: 200 });
    primary = new RedisRateLimiter({ client, prefix: uniquePrefix('failover') });
    expect(await whenRedisReady(client, 10_000)).to.equal(true);
    engine = new PipelineEngine({ state: () => state, resolvers: [new ApiKeyResolver({ hasher })], limiter: primary, insurance: new MemoryRateLimiter() });
  });
  after(async () => {
    await primary.close();
    await redis.stop();
  });

  it('enforces shared buckets in Redis, then degrades per route when Redis is killed, then recovers', async () => {
    // healthy: the Redis bucket counts both routes' requests separately (buckets are per service)
    expect(outcome(await engine.decide(request('/open', alice)))).to.equal('allow');
    expect(outcome(await engine.decide(request('/closed', alice)))).to.equal('allow');

    await redis.kill();

    // closed: 503, retryable; open: the insurance limiter enforces the same plan from zero
    const closed = await engine.decide(request('/closed', alice));
    expect(outcome(closed)).to.equal('dependency_unavailable');
    const openOutcomes = [];
    for (let i = 0; i < 4; i++) openOutcomes.push(outcome(await engine.decide(request('/open', alice))));
    expect(openOutcomes).to.deep.equal(['allow', 'allow', 'allow', 'rate_limited']);
    // authentication is never relaxed by a limiter outage
    expect(outcome(await engine.decide(request('/open', revoked)))).to.equal('api_key_revoked');
    expect(outcome(await engine.decide(request('/closed', revoked)))).to.equal('api_key_revoked');

    await redis.restart();
    // a fresh redis-server (no persistence) starts with empty buckets; the closed route works again
    await waitFor(async () => outcome(await engine.decide(request('/closed', alice))) === 'allow', 'the closed route to recover', 15_000, 100);
    expect(outcome(await engine.decide(request('/closed', alice)))).to.equal('allow');
    expect(outcome(await engine.decide(request('/closed', alice)))).to.equal('allow');
    expect(outcome(await engine.decide(request('/closed', alice)))).to.equal('rate_limited');
  });
});
