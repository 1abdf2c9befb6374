import { expect } from 'chai';
import { Writable } from 'node:stream';
import type { AllowDecision, DenyDecision, Principal } from '../core/decision.js';
import type { NormalizedRequest } from '../core/request.js';
import { DecisionObserver, observedEngine } from './decision-observer.js';
import { createLogger } from './logger.js';
import { AuthzMetrics } from './metrics.js';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const line of String(chunk).split('\n')) if (line) lines.push(JSON.parse(line));
      cb();
    },
  });
  return { lines, logger: createLogger({ level: 'info', destination: stream }) };
}

const principal: Principal = {
  authMethod: 'api_key',
  subject: 'consumer-7',
  consumerId: 'consumer-7',
  keyId: 'key-1',
  scopes: new Set(['a']),
  roles: new Set(),
};

const request: NormalizedRequest = {
  method: 'POST',
  scheme: 'https',
  host: 'api.example.com',
  path: '/v1/chat',
  query: 'user_key=pc_secretsecret',
  clientIp: '203.0.113.9',
  headers: { authorization: 'Bearer pc_supersecret', 'x-api-key': 'pc_other' },
  adapter: 'forward_auth',
};

const allow: AllowDecision = {
  kind: 'allow',
  id: 'd-allow',
  route: { service: 'llm', route: 'chat' },
  principal,
  upstreamHeaders: [],
  removeHeaders: [],
  removeQueryParams: [],
  responseHeaders: [],
};

const deny: DenyDecision = {
  kind: 'deny',
  id: 'd-deny',
  code: 'rate_limited',
  detail: 'Too many requests',
  headers: [['Retry-After', '3']],
  route: { service: 'llm', route: 'chat' },
  principal,
};

describe('DecisionObserver', () => {
  it('counts decisions by outcome, reason, adapter and service, never by subject, key or IP', async () => {
    const metrics = new AuthzMetrics();
    const { logger } = capture();
    const observer = new DecisionObserver({ metrics, logger, allowSampleRate: 0 });
    observer.observe(request, allow, 0.0001);
    observer.observe(request, allow, 0.0001);
    observer.observe(request, deny, 0.0002);
    observer.observe(request, { ...allow, shadowDenial: 'insufficient_scope' }, 0.0001);
    observer.observe({ ...request, adapter: 'ext_authz' }, { ...deny, code: 'no_route', route: undefined } as DenyDecision, 0.0001);
    const text = await metrics.render();
    expect(text).to.contain('portcullis_authz_decisions_total{outcome="allow",reason="ok",adapter="forward_auth",service="llm"} 2');
    expect(text).to.contain('portcullis_authz_decisions_total{outcome="deny",reason="rate_limited",adapter="forward_auth",service="llm"} 1');
    expect(text).to.contain('portcullis_authz_decisions_total{outcome="shadow",reason="insufficient_scope",adapter="forward_auth",service="llm"} 1');
    expect(text).to.contain('portcullis_authz_decisions_total{outcome="deny",reason="no_route",adapter="ext_authz",service="none"} 1');
    expect(text).to.contain('portcullis_authz_decision_duration_seconds_count{adapter="forward_auth",outcome="allow"} 2');
    expect(text).to.contain('portcullis_authz_decision_duration_seconds_bucket{adapter="forward_auth",outcome="deny",le="0.0001"} 0');
    expect(text).to.contain('portcullis_authz_decision_duration_seconds_bucket{adapter="forward_auth",outcome="deny",le="0.00025"} 1');
    expect(text).to.contain('portcullis_authz_decision_duration_seconds_bucket{adapter="forward_auth",outcome="deny",le="+Inf"} 1');
    expect(text).to.contain('portcullis_authz_decision_duration_seconds_sum{adapter="forward_auth",outcome="deny"} 0.0002');
    expect(text).to.contain('# TYPE portcullis_authz_decision_duration_seconds histogram');
    for (const leak of ['consumer-7', 'key-1', '203.0.113.9', 'secret']) expect(text).not.to.contain(leak);
  });

  it('logs every deny, samples allows, and never writes a credential or the query', () => {
    const metrics = new AuthzMetrics();
    const { lines, logger } = capture();
    let roll = 0.5;
    const observer = new DecisionObserver({ metrics, logger, allowSampleRate: 0.25, random: () => roll });
    observer.observe(request, allow, 0.0001); // 0.5 >= 0.25: not sampled
    roll = 0.1;
    observer.observe(request, allow, 0.0001); // sampled
    observer.observe(request, deny, 0.0001);
    logger.flush();
    expect(lines).to.have.length(2);
    expect(lines[0]).to.include({ decision_id: 'd-allow', outcome: 'allow', msg: 'allowed', subject: 'consumer-7', key_id: 'key-1', path: '/v1/chat' });
    expect(lines[1]).to.include({ decision_id: 'd-deny', outcome: 'deny', code: 'rate_limited', level: 'info', client_ip: '203.0.113.9' });
    const all = JSON.stringify(lines);
    expect(all).not.to.contain('secret');
    expect(all).not.to.contain('user_key');
  });

  it('redacts credentials if headers or a query are ever logged', () => {
    const { lines, logger } = capture();
    logger.info({ headers: { authorization: 'Bearer abc', 'x-api-key': 'pc_k', cookie: 'c=1', accept: '*/*' }, query: 'user_key=x' }, 'oops');
    logger.flush();
    const line = lines[0] as { headers: Record<string, string>; query: string };
    expect(line.headers).to.deep.equal({ authorization: '[redacted]', 'x-api-key': '[redacted]', cookie: '[redacted]', accept: '*/*' });
    expect(line.query).to.equal('[redacted]');
  });

  it('observedEngine times the wrapped engine and passes its decision through', async () => {
    const metrics = new AuthzMetrics();
    const { logger } = capture();
    const engine = observedEngine({ decide: async () => deny }, new DecisionObserver({ metrics, logger, allowSampleRate: 0 }));
    expect(await engine.decide(request)).to.equal(deny);
    expect(await metrics.render()).to.contain('reason="rate_limited"');
  });
});

describe('AuthzMetrics', () => {
  it('exposes cache, JWKS, limiter and state metrics', async () => {
    let now = 10_000;
    const metrics = new AuthzMetrics({ now: () => now });
    const jwt = { cacheHits: 2, negativeCacheHits: 0, cacheMisses: 1, verifications: 1, jwksFetches: 3, jwksFetchFailures: 1 };
    metrics.observeTokenVerifier(() => jwt);
    metrics.limiterStoreError('redis');
    metrics.stateLoaded(42, 4_000);
    metrics.stateRejected();
    now = 16_500;
    const text = await metrics.render();
    expect(text).to.contain('portcullis_authz_token_cache_lookups_total{result="hit"} 2');
    expect(text).to.contain('portcullis_authz_token_cache_lookups_total{result="miss"} 1');
    expect(text).to.contain('portcullis_authz_jwks_fetches_total{outcome="ok"} 2');
    expect(text).to.contain('portcullis_authz_jwks_fetches_total{outcome="error"} 1');
    expect(text).to.contain('portcullis_authz_jwt_verifications_total 1');
    jwt.cacheHits = 5;
    expect(await metrics.render()).to.contain('portcullis_authz_token_cache_lookups_total{result="hit"} 5');
    expect(text).to.contain('portcullis_authz_limiter_store_errors_total{store="redis"} 1');
    expect(text).to.contain('portcullis_authz_state_revision 42');
    expect(text).to.contain('portcullis_authz_state_age_seconds 12.5');
    expect(text).to.contain('portcullis_authz_state_reloads_total{outcome="rejected"} 1');
  });
});
