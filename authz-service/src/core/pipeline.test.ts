import { expect } from 'chai';
import { ApiKeyResolver } from '../credentials/api-key/resolver.js';
import { KeyHasher, generateApiKey } from '../credentials/api-key/format.js';
import type { CredentialResolver } from '../credentials/resolver.js';
import { MemoryRateLimiter } from '../limits/memory-limiter.js';
import type { LimitOutcome, RateLimiter } from '../limits/limiter.js';
import { type CompiledState, compileState } from '../state/compile.js';
import type { StateInput } from '../state/schema.js';
import type { AllowDecision, Decision, DenyDecision } from './decision.js';
import { denialBody } from './decision.js';
import { ERROR_CATALOG } from './errors.js';
import { DEFAULT_IDENTITY_HEADERS as H } from './identity-headers.js';
import { type DecisionEngineOptions, PipelineEngine } from './pipeline.js';
import type { NormalizedRequest } from './request.js';

const hasher = new KeyHasher('pipeline-test-pepper-0123456789abcdef');
const NOW = Date.parse('2026-06-01T12:00:00Z');
const PAST = '2026-05-01T00:00:00Z';
const FUTURE = '2027-01-01T00:00:00Z';

function newKey() {
  const { key } = generateApiKey('pc');
  return { key, hash: hasher.hash(key) };
}
const valid = newKey();
const revoked = newKey();
const expired = newKey();
const rotatedOld = newKey();
const rotatedOldInGrace = newKey();
const rotatedNew = newKey();
const restricted = newKey();
const disabled = newKey();
const perKey = newKey();
const shadowKey = newKey();

const stateInput: StateInput = {
  plans: [
    { name: 'free', limits: [{ window: '1m', requests: 5 }, { window: '1d', requests: 8 }] },
    { name: 'tiny', limits: [{ window: '1d', requests: 1 }] },
  ],
  services: [
    {
      name: 'llm',
      upstream_urls: ['http://127.0.0.1:9'],
      match: { host: 'api.test', path_prefix: '/llm' },
      plan: 'free',
      routes: [
        { name: 'chat', path_prefix: '/llm/v1/chat', scopes: ['chat'], cost: 2 },
        { name: 'admin', path_prefix: '/llm/admin', roles: ['admin'] },
        { name: 'models', path_prefix: '/llm/v1/models', public: true },
      ],
    },
    { name: 'jwt-only', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/jwt' }, credentials: ['jwt'] },
    { name: 'strict', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/strict' }, plan: 'free', fail_mode: 'closed' },
    { name: 'lenient', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/lenient' }, plan: 'free', fail_mode: 'open' },
    { name: 'shadowed', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/shadow' }, plan: 'tiny', mode: 'shadow' },
    { name: 'forwarding', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/fwd' }, forward_credentials: true, query_key: 'user_key' },
    { name: 'querykey', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/q' }, query_key: 'user_key' },
  ],
  consumers: [
    { id: 'c-alice', name: 'Ålice', subjects: [{ issuer: 'https://idp.test/realms/x', sub: 'alice-sub' }] },
    { id: 'c-bob', name: 'bob', disabled: true },
    { id: 'c-carol', name: 'carol', plan: 'tiny' },
  ],
  keys: [
    { id: 'k-valid', consumer_id: 'c-alice', secrets: [{ hash: valid.hash }], scopes: ['chat'] },
    { id: 'k-revoked', consumer_id: 'c-alice', secrets: [{ hash: revoked.hash }], revoked: true },
    { id: 'k-expired', consumer_id: 'c-alice', secrets: [{ hash: expired.hash }], expires_at: PAST },
    {
      id: 'k-rotated',
      consumer_id: 'c-alice',
      secrets: [{ hash: rotatedOld.hash, not_after: PAST }, { hash: rotatedNew.hash }],
    },
    { id: 'k-grace', consumer_id: 'c-alice', secrets: [{ hash: rotatedOldInGrace.hash, not_after: FUTURE }] },
    { id: 'k-restricted', consumer_id: 'c-alice', secrets: [{ hash: restricted.hash }], services: ['jwt-only'] },
    { id: 'k-disabled', consumer_id: 'c-bob', secrets: [{ hash: disabled.hash }] },
    { id: 'k-perkey', consumer_id: 'c-carol', secrets: [{ hash: perKey.hash }], plan: 'free', limits: [{ window: '1h', requests: 1 }] },
    { id: 'k-shadow', consumer_id: 'c-carol', secrets: [{ hash: shadowKey.hash }] },
  ],
};

function compiled(input: StateInput = stateInput): CompiledState {
  const r = compileState(input);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.state;
}

function request(path: string, headers: Record<string, string> = {}, extra: Partial<NormalizedRequest> = {}): NormalizedRequest {
  const q = path.indexOf('?');
  return {
    method: 'GET',
    scheme: 'https',
    host: 'api.test',
    path: q === -1 ? path : path.slice(0, q),
    query: q === -1 ? '' : path.slice(q + 1),
    clientIp: '203.0.113.7',
    headers,
    adapter: 'forward_auth',
    ...extra,
  };
}

/** A store that cannot answer, as a Redis limiter reports while Redis is down. */
class UnavailableLimiter implements RateLimiter {
  readonly kind = 'unavailable';
  calls = 0;
  async consume(): Promise<LimitOutcome> {
    this.calls++;
    return { kind: 'unavailable', reason: 'store down' };
  }
  async close() {}
}

function engine(overrides: Partial<DecisionEngineOptions> = {}, state = compiled()): PipelineEngine {
  return new PipelineEngine({
    state: () => state,
    resolvers: [new ApiKeyResolver({ hasher })],
    limiter: new MemoryRateLimiter(),
    clock: () => NOW,
    ...overrides,
  });
}

function expectDeny(d: Decision, code: DenyDecision['code']): DenyDecision {
  if (d.kind !== 'deny') throw new Error(`expected deny ${code}, got allow`);
  expect(d.code, d.detail).to.equal(code);
  return d;
}
function expectAllow(d: Decision): AllowDecision {
  if (d.kind !== 'allow') throw new Error(`expected allow, got ${d.code}: ${d.detail}`);
  return d;
}
const header = (pairs: readonly (readonly [string, string])[], name: string) =>
  pairs.find(([n]) => n.toLowerCase() === name.toLowerCase())?.[1];

describe('decision pipeline', () => {
  describe('route match', () => {
    it('denies a request no service claims with no_route (404)', async () => {
      const d = expectDeny(await engine().decide(request('/nowhere', { 'x-api-key': valid.key })), 'no_route');
      expect(ERROR_CATALOG[d.code].status).to.equal(404);
    });

    it('fails closed with 503 while no state is loaded', async () => {
      const d = expectDeny(await engine({ state: () => undefined }).decide(request('/llm/v1/chat')), 'state_stale');
      expect(ERROR_CATALOG[d.code].status).to.equal(503);
      expect(header(d.headers, 'retry-after')).to.equal('1');
    });

    it('fails closed when the state is declared stale', async () => {
      expectDeny(await engine({ stateIsStale: () => true }).decide(request('/llm/v1/chat', { 'x-api-key': valid.key })), 'state_stale');
    });
  });

  describe('authentication', () => {
    it('allows a valid key from X-API-Key with identity headers for the upstream', async () => {
      const d = expectAllow(await engine().decide(request('/llm/v1/chat/completions', { 'x-api-key': valid.key })));
      expect(d.route).to.deep.equal({ service: 'llm', route: 'chat' });
      expect(header(d.upstreamHeaders, H.consumer)).to.equal('c-alice');
      expect(header(d.upstreamHeaders, H.subject)).to.equal('alice-sub');
      expect(header(d.upstreamHeaders, H.keyId)).to.equal('k-valid');
      expect(header(d.upstreamHeaders, H.scopes)).to.equal('chat');
      // the key and its consumer carry no plan: the service's default applied, and the header says which
      expect(header(d.upstreamHeaders, H.plan)).to.equal('free');
      expect(header(d.upstreamHeaders, H.authMethod)).to.equal('api_key');
      expect(header(d.upstreamHeaders, H.name)).to.equal('%C3%85lice');
      expect(header(d.upstreamHeaders, H.decisionId)).to.equal(d.id);
      expect(d.removeHeaders).to.include('x-api-key');
      expect(d.removeHeaders).to.not.include(H.plan.toLowerCase());
      expect(d.removeHeaders).to.not.include(H.consumer.toLowerCase());
    });

    it('names the plan that applied: the key\'s own over the service default, none (and stripped) where no plan applies', async () => {
      const own = expectAllow(await engine().decide(request('/llm/v1/models', { 'x-api-key': perKey.key })));
      expect(header(own.upstreamHeaders, H.plan)).to.equal('free');
      const consumerPlan = expectAllow(await engine().decide(request('/shadow/x', { 'x-api-key': shadowKey.key })));
      expect(header(consumerPlan.upstreamHeaders, H.plan)).to.equal('tiny');
      const none = expectAllow(await engine().decide(request('/q/x', { 'x-api-key': valid.key })));
      expect(header(none.upstreamHeaders, H.plan)).to.equal(undefined);
      expect(none.removeHeaders).to.include(H.plan.toLowerCase());
    });

    it('accepts a key as a Bearer token (OpenAI-style clients) and strips Authorization', async () => {
      const d = expectAllow(await engine().decide(request('/llm/v1/chat', { authorization: `Bearer ${valid.key}` })));
      expect(d.removeHeaders).to.include('authorization');
    });

    it('reads a query key only where the service allows it, and lists it for removal', async () => {
      const d = expectAllow(await engine().decide(request(`/q/x?user_key=${rotatedNew.key}&a=1`)));
      expect(d.removeQueryParams).to.deep.equal(['user_key']);
      expectDeny(await engine().decide(request(`/llm/v1/chat?user_key=${valid.key}`)), 'missing_credential');
    });

    it('keeps credentials when the service forwards them', async () => {
      const d = expectAllow(await engine().decide(request('/fwd', { 'x-api-key': valid.key })));
      expect(d.removeHeaders).to.not.include('x-api-key');
    });

    it('answers 401 with a challenge when no credential is sent', async () => {
      const d = expectDeny(await engine().decide(request('/llm/v1/chat')), 'missing_credential');
      expect(ERROR_CATALOG[d.code].status).to.equal(401);
      expect(header(d.headers, 'www-authenticate')).to.match(/^Bearer realm="portcullis"/);
    });

    const cases: Array<[string, Record<string, string>, DenyDecision['code']]> = [
      ['a key with a bad checksum', { 'x-api-key': valid.key.slice(0, -1) + (valid.key.endsWith('a') ? 'b' : 'a') }, 'malformed_api_key'],
      ['garbage in X-API-Key', { 'x-api-key': 'not a key!' }, 'malformed_api_key'],
      ['an unknown key', { 'x-api-key': generateApiKey('pc').key }, 'unknown_api_key'],
      ['an unknown foreign-format key', { 'x-api-key': '4e7b7b09fb75bcb3f72459a336100dab' }, 'unknown_api_key'],
      ['a revoked key', { 'x-api-key': revoked.key }, 'api_key_revoked'],
      ['an expired key', { 'x-api-key': expired.key }, 'api_key_expired'],
      ['a rotated-out secret past its grace', { 'x-api-key': rotatedOld.key }, 'api_key_expired'],
      ['a key of a disabled consumer', { 'x-api-key': disabled.key }, 'forbidden'],
    ];
    for (const [what, headers, code] of cases) {
      it(`denies ${what} with ${code}`, async () => {
        const d = expectDeny(await engine().decide(request('/llm/v1/chat', headers)), code);
        expect(d.detail).to.not.include(headers['x-api-key'] ?? '\u0000');
        const body = JSON.parse(denialBody(d));
        expect(body).to.include({ code, status: ERROR_CATALOG[code].status, instance: d.id });
        expect(JSON.stringify(body)).to.not.include(headers['x-api-key'] ?? '\u0000');
      });
    }

    it('lets both secrets of a rotated key work inside the grace period', async () => {
      expectAllow(await engine().decide(request('/llm/x', { 'x-api-key': rotatedNew.key })));
      expectAllow(await engine().decide(request('/llm/x', { 'x-api-key': rotatedOldInGrace.key })));
    });

    it('tells a credential this service does not accept from a missing one', async () => {
      expectDeny(await engine().decide(request('/jwt/x', { 'x-api-key': valid.key })), 'credential_not_accepted');
      expectDeny(await engine().decide(request('/jwt/x')), 'missing_credential');
    });

    it('lets a public route through anonymously, with per-IP buckets', async () => {
      const d = expectAllow(await engine().decide(request('/llm/v1/models')));
      expect(header(d.upstreamHeaders, H.authMethod)).to.equal('anonymous');
      expect(header(d.upstreamHeaders, H.consumer)).to.equal('ip:203.0.113.7');
    });

    it('never allows when a resolver cannot decide: 503, not 401, not allow', async () => {
      const undecided: CredentialResolver = {
        type: 'jwt',
        present: () => true,
        resolve: () => ({ kind: 'unavailable', detail: 'JWKS unreachable' }),
      };
      const d = expectDeny(await engine({ resolvers: [undecided] }).decide(request('/jwt/x', { authorization: 'Bearer a.b.c' })), 'dependency_unavailable');
      expect(ERROR_CATALOG[d.code].failure).to.equal(true);
    });

    it('turns an exception anywhere into internal_error, never an allow', async () => {
      const broken: CredentialResolver = {
        type: 'api_key',
        present: () => true,
        resolve: () => {
          throw new Error('boom');
        },
      };
      const seen: unknown[] = [];
      const d = expectDeny(
        await engine({ resolvers: [broken], onInternalError: (e) => seen.push(e) }).decide(request('/llm/x', { 'x-api-key': valid.key })),
        'internal_error',
      );
      expect(ERROR_CATALOG[d.code].status).to.equal(500);
      expect(seen).to.have.length(1);
    });
  });

  describe('authorization', () => {
    it('denies a missing scope with 403 insufficient_scope and names the scope', async () => {
      const d = expectDeny(await engine().decide(request('/llm/v1/chat', { 'x-api-key': rotatedNew.key })), 'insufficient_scope');
      expect(ERROR_CATALOG[d.code].status).to.equal(403);
      expect(header(d.headers, 'www-authenticate')).to.include('error="insufficient_scope"').and.include('scope="chat"');
    });

    it('denies a missing role', async () => {
      const d = expectDeny(await engine().decide(request('/llm/admin', { 'x-api-key': valid.key })), 'insufficient_scope');
      expect(d.detail).to.include('admin');
    });

    it('keeps a key restricted to some services away from the others', async () => {
      expectDeny(await engine().decide(request('/llm/x', { 'x-api-key': restricted.key })), 'service_not_allowed');
    });
  });

  describe('rate buckets', () => {
    it('charges the route cost, shares the bucket across a consumer, and answers 429 with headers', async () => {
      const e = engine();
      // plan free: 5/min; chat costs 2 → two chats (4 points) pass, the third would need 6
      const first = expectAllow(await e.decide(request('/llm/v1/chat', { 'x-api-key': valid.key })));
      expect(first.responseHeaders.length).to.be.greaterThan(0);
      expectAllow(await e.decide(request('/llm/v1/chat', { 'x-api-key': valid.key })));
      const d = expectDeny(await e.decide(request('/llm/v1/chat', { 'x-api-key': valid.key })), 'rate_limited');
      expect(ERROR_CATALOG[d.code].status).to.equal(429);
      expect(Number(header(d.headers, 'retry-after'))).to.be.greaterThan(0);
      expect(header(d.headers, 'ratelimit-policy')).to.be.a('string');
      // another key of the same consumer shares the bucket: 1 point left of 5
      expectAllow(await e.decide(request('/llm/other', { 'x-api-key': rotatedNew.key })));
      expectDeny(await e.decide(request('/llm/other', { 'x-api-key': rotatedNew.key })), 'rate_limited');
    });

    it('calls a long-window exhaustion quota_exceeded', async () => {
      const state = compiled({
        ...stateInput,
        services: stateInput.services!.map((s) => (s.name === 'lenient' ? { ...s, plan: 'tiny' } : s)),
      });
      const e2 = engine({}, state);
      expectAllow(await e2.decide(request('/lenient', { 'x-api-key': valid.key })));
      expectDeny(await e2.decide(request('/lenient', { 'x-api-key': valid.key })), 'quota_exceeded');
    });

    it('adds per-key windows in a bucket of the key alone', async () => {
      const e = engine();
      expectAllow(await e.decide(request('/llm/x', { 'x-api-key': perKey.key })));
      const d = expectDeny(await e.decide(request('/llm/x', { 'x-api-key': perKey.key })), 'rate_limited');
      expect(d.detail).to.include('key-1h');
    });

    it('fail_mode closed answers 503 when the store is down', async () => {
      const d = expectDeny(await engine({ limiter: new UnavailableLimiter() }).decide(request('/strict', { 'x-api-key': valid.key })), 'dependency_unavailable');
      expect(ERROR_CATALOG[d.code].status).to.equal(503);
    });

    it('fail_mode open falls back to the insurance limiter, which still enforces', async () => {
      const e = engine({ limiter: new UnavailableLimiter(), insurance: new MemoryRateLimiter() });
      for (let i = 0; i < 5; i++) expectAllow(await e.decide(request('/lenient', { 'x-api-key': valid.key })));
      expectDeny(await e.decide(request('/lenient', { 'x-api-key': valid.key })), 'rate_limited');
    });

    it('fail_mode open without insurance lets limits lapse but still authenticates', async () => {
      const e = engine({ limiter: new UnavailableLimiter() });
      for (let i = 0; i < 10; i++) expectAllow(await e.decide(request('/lenient', { 'x-api-key': valid.key })));
      expectDeny(await e.decide(request('/lenient', { 'x-api-key': revoked.key })), 'api_key_revoked');
    });
  });

  describe('shadow mode', () => {
    it('allows what it would deny and reports the denial', async () => {
      const e = engine();
      const noCredential = expectAllow(await e.decide(request('/shadow/x')));
      expect(noCredential.shadowDenial).to.equal('missing_credential');
      expect(noCredential.upstreamHeaders.map(([n]) => n)).to.deep.equal([H.decisionId]);
      expect(noCredential.removeHeaders).to.include(H.subject.toLowerCase());
      expect(expectAllow(await e.decide(request('/shadow/x', { 'x-api-key': shadowKey.key }))).shadowDenial).to.equal(undefined);
      expect(expectAllow(await e.decide(request('/shadow/x', { 'x-api-key': shadowKey.key }))).shadowDenial).to.equal('quota_exceeded');
    });
  });

  it('gives every decision a distinct id', async () => {
    const e = engine();
    const ids = new Set<string>();
    for (let i = 0; i < 50; i++) ids.add((await e.decide(request('/nowhere'))).id);
    expect(ids.size).to.equal(50);
  });
});
