import { randomUUID } from 'node:crypto';
import { status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import { freePort } from '../../../test/harness/ports.js';
import { TestIssuer } from '../../../test/harness/oidc.js';
import { generateApiKey, KeyHasher } from '../credentials/api-key/format.js';
import { ApiKeyResolver } from '../credentials/api-key/resolver.js';
import { JwtResolver } from '../credentials/jwt/index.js';
import type { Decision } from '../core/decision.js';
import type { DecisionEngine } from '../core/engine.js';
import { ERROR_CATALOG, PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import { DEFAULT_IDENTITY_HEADERS as H, identityHeaderList } from '../core/identity-headers.js';
import { PipelineEngine } from '../core/pipeline.js';
import { MemoryRateLimiter } from '../limits/memory-limiter.js';
import { createRedisClient } from '../limits/redis-client.js';
import { RedisRateLimiter } from '../limits/redis-limiter.js';
import type { NormalizedRequest } from '../core/request.js';
import { compileState, type CompiledState } from '../state/compile.js';
import { createExtAuthzClient, type ExtAuthzClient, type ReceivedCheckResponse } from './client.js';
import type { CheckRequestMessage } from './ext-authz-messages.js';
import { loadExtAuthzDefinition } from './protos.js';
import { EXT_AUTHZ_SERVICE, type ExtAuthzServer, startExtAuthzServer } from './server.js';

const hasher = new KeyHasher('ext-authz-test-pepper-0123456789abcdef');
const ALICE_SUB = 'f3a1c2d4-0000-4000-8000-000000000001'; // the TestIssuer's default `sub`

function newKey() {
  const { key } = generateApiKey('pc');
  return { key, hash: hasher.hash(key) };
}
const keyOk = newKey();
const keyNoScope = newKey();
const keyLimited = newKey();

function compiled(issuer: TestIssuer): CompiledState {
  const result = compileState({
    plans: [
      { name: 'free', limits: [{ window: '1m', requests: 100 }] },
      { name: 'single', limits: [{ window: '1m', requests: 1 }] },
    ],
    issuers: [{ issuer: issuer.issuer, jwks_uri: issuer.jwksUri }],
    services: [
      {
        name: 'chat',
        upstream_urls: ['http://127.0.0.1:9000'],
        match: { host: 'api.example.com', path_prefix: '/v1' },
        plan: 'free',
        query_key: 'user_key',
        routes: [{ name: 'completions', path_prefix: '/v1/chat', scopes: ['chat:write'] }],
      },
      { name: 'embeddings', upstream_urls: ['http://127.0.0.1:9001'], match: { path_prefix: '/embed' }, plan: 'free' },
      { name: 'billing', upstream_urls: ['http://127.0.0.1:9002'], match: { path_prefix: '/billing' }, plan: 'free', fail_mode: 'closed' },
    ],
    consumers: [
      { id: 'c-alice', name: 'alice', plan: 'free', subjects: [{ issuer: issuer.issuer, sub: ALICE_SUB }] },
      { id: 'c-bob', name: 'bob', plan: 'single' },
    ],
    keys: [
      { id: 'k-ok', consumer_id: 'c-alice', secrets: [{ hash: keyOk.hash }], scopes: ['chat:write'] },
      { id: 'k-noscope', consumer_id: 'c-alice', secrets: [{ hash: keyNoScope.hash }] },
      { id: 'k-limited', consumer_id: 'c-bob', secrets: [{ hash: keyLimited.hash }], scopes: ['chat:write'] },
    ],
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.state;
}

/** The real decision core, recording what it was asked so the request mapping is seen too. */
class RecordingEngine implements DecisionEngine {
  readonly seen: NormalizedRequest[] = [];
  readonly decided: Decision[] = [];
  constructor(private readonly inner: DecisionEngine) {}

  async decide(request: NormalizedRequest): Promise<Decision> {
    this.seen.push(request);
    const decision = await this.inner.decide(request);
    this.decided.push(decision);
    return decision;
  }
}

interface CheckInput {
  method?: string;
  path?: string;
  authority?: string;
  headers?: Record<string, string>;
  contextExtensions?: Record<string, string>;
}

/** A CheckRequest shaped like Envoy's: pseudo-headers in the map, the peer address of the connection. */
function checkRequest({ method = 'GET', path = '/v1/chat/completions', authority = 'api.example.com', headers = {}, contextExtensions }: CheckInput): CheckRequestMessage {
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.9', port_value: 51515 } } },
      destination: { address: { socket_address: { address: '10.0.0.1', port_value: 10000 } } },
      request: {
        http: {
          id: '1234567890',
          method,
          path,
          host: authority,
          scheme: 'https',
          protocol: 'HTTP/2',
          headers: { ':authority': authority, ':path': path, ':method': method, ':scheme': 'https', 'x-request-id': 'r-1', ...headers },
        },
      },
      ...(contextExtensions ? { context_extensions: contextExtensions } : {}),
    },
  };
}

function header(list: readonly { header: { key: string; value: string } }[] | undefined, name: string): string | undefined {
  return list?.find((h) => h.header.key.toLowerCase() === name.toLowerCase())?.header.value;
}

/** envoy.type.v3.StatusCode from the official proto: name → number. */
function statusCodeNumbers(): Map<string, number> {
  const enumType = loadExtAuthzDefinition()['envoy.type.v3.StatusCode'] as { type: { value: { name: string; number: number }[] } };
  return new Map(enumType.type.value.map((v) => [v.name, v.number]));
}

async function expectGrpcError(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (error) {
    return error as ServiceError;
  }
  throw new Error('expected a gRPC error, got a response');
}

/** Every identity header name appears exactly once: set for the upstream, or listed for removal. */
function expectIdentityHeadersAccountedFor(ok: NonNullable<ReceivedCheckResponse['ok_response']>): void {
  const set = ok.headers.map((h) => h.header.key.toLowerCase());
  for (const name of identityHeaderList(H).map((n) => n.toLowerCase())) {
    expect(Number(set.includes(name)) + Number(ok.headers_to_remove.includes(name)), name).to.equal(1);
  }
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const values = (response: ReceivedCheckResponse) =>
  Object.fromEntries(Object.entries(response.dynamic_metadata?.fields ?? {}).map(([k, v]) => [k, v.stringValue]));

describe('ext_authz gRPC server over the decision core (real client, official protos)', () => {
  let idp: TestIssuer;
  let engine: RecordingEngine;
  let server: ExtAuthzServer;
  let client: ExtAuthzClient;
  /** A second server whose rate-limit store (Redis on a port nothing listens on) is down. */
  let storeDown: { server: ExtAuthzServer; client: ExtAuthzClient; limiter: RedisRateLimiter };
  /** Denials the adapter made itself, reported to its observer. */
  const observed: { request: { adapter: string; clientIp: string }; decision: Decision }[] = [];
  const statusNumbers = statusCodeNumbers();

  before(async () => {
    idp = await TestIssuer.start();
    const state = compiled(idp);
    const resolvers = [new ApiKeyResolver({ hasher }), new JwtResolver({ fetchTimeoutMs: 1_000 })];
    engine = new RecordingEngine(new PipelineEngine({ state: () => state, resolvers, limiter: new MemoryRateLimiter() }));
    const observer = { observe: (request: { adapter: string; clientIp: string }, decision: Decision) => observed.push({ request, decision }) };
    server = await startExtAuthzServer({ engine, port: 0, host: '127.0.0.1', observer });
    client = createExtAuthzClient(`127.0.0.1:${server.port}`);

    const limiter = new RedisRateLimiter({ client: createRedisClient(`redis://127.0.0.1:${await freePort()}`, { reconnectMaxDelayMs: 50 }) });
    const downEngine = new PipelineEngine({ state: () => state, resolvers, limiter });
    const downServer = await startExtAuthzServer({ engine: downEngine, port: 0, host: '127.0.0.1' });
    storeDown = { server: downServer, client: createExtAuthzClient(`127.0.0.1:${downServer.port}`), limiter };
  });
  after(async () => {
    client.close();
    storeDown.client.close();
    await Promise.all([server.close(), storeDown.server.close(), storeDown.limiter.close(), idp.close()]);
  });

  const lastSeen = () => engine.seen[engine.seen.length - 1]!;
  const lastDecision = () => engine.decided[engine.decided.length - 1]!;

  it('maps the CheckRequest into the normalised request the core judges', async () => {
    await client.check(checkRequest({ method: 'post', path: '/v1/chat/./completions?x=1', authority: 'API.Example.com:8443', headers: bearer(keyOk.key) }));
    const seen = lastSeen();
    expect(seen).to.include({ method: 'POST', scheme: 'https', host: 'api.example.com', path: '/v1/chat/completions', query: 'x=1' });
    expect(seen.clientIp).to.equal('203.0.113.9');
    expect(seen.adapter).to.equal('ext_authz');
    expect(seen.headers['authorization']).to.equal(`Bearer ${keyOk.key}`);
    expect(seen.headers[':authority']).to.equal('API.Example.com:8443');
    expect(seen.contextExtensions).to.equal(undefined);
  });

  it('allows a valid API key: identity headers overwrite, the credential and unset identity headers are removed, RateLimit and metadata', async () => {
    const response = await client.check(checkRequest({ headers: bearer(keyOk.key) }));
    const decision = lastDecision();
    expect(decision.kind).to.equal('allow');
    expect(response.status.code).to.equal(GrpcStatus.OK);
    expect(response.denied_response).to.equal(undefined);
    const ok = response.ok_response!;
    expect(header(ok.headers, H.subject)).to.equal(ALICE_SUB);
    expect(header(ok.headers, H.consumer)).to.equal('c-alice');
    expect(header(ok.headers, H.keyId)).to.equal('k-ok');
    expect(header(ok.headers, H.authMethod)).to.equal('api_key');
    expect(header(ok.headers, H.decisionId)).to.equal(decision.id);
    expect(ok.headers.length).to.be.greaterThan(0);
    expect(ok.headers.every((h) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD')).to.equal(true);
    expect(ok.headers_to_remove).to.include('authorization');
    expectIdentityHeadersAccountedFor(ok);
    expect(header(ok.response_headers_to_add, 'RateLimit-Policy')).to.match(/q=100/);
    expect(header(ok.response_headers_to_add, 'RateLimit')).to.match(/r=\d+/);
    expect(ok.response_headers_to_add.every((h) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD')).to.equal(true);
    expect(ok.query_parameters_to_remove).to.deep.equal([]);
    expect(values(response)).to.deep.equal({
      decision_id: decision.id,
      service: 'chat',
      route: 'completions',
      subject: ALICE_SUB,
      consumer: 'c-alice',
      key_id: 'k-ok',
      auth_method: 'api_key',
      plan: 'free',
    });
  });

  it('strips a key sent as a query parameter through query_parameters_to_remove', async () => {
    const response = await client.check(checkRequest({ path: `/v1/models?user_key=${keyOk.key}&limit=5` }));
    expect(response.status.code).to.equal(GrpcStatus.OK);
    expect(response.ok_response!.query_parameters_to_remove).to.deep.equal(['user_key']);
    expect(response.ok_response!.headers_to_remove).not.to.include('authorization');
  });

  it('allows a valid JWT: the subject and its linked consumer, no key id anywhere', async () => {
    const token = await idp.keycloakAccessToken({ scope: 'openid chat:write' });
    const response = await client.check(checkRequest({ headers: bearer(token) }));
    expect(response.status.code, JSON.stringify(lastDecision())).to.equal(GrpcStatus.OK);
    const ok = response.ok_response!;
    expect(header(ok.headers, H.subject)).to.equal(ALICE_SUB);
    expect(header(ok.headers, H.authMethod)).to.equal('jwt');
    expect(header(ok.headers, H.keyId)).to.equal(undefined);
    expect(ok.headers_to_remove).to.include.members(['authorization', H.keyId.toLowerCase()]);
    expectIdentityHeadersAccountedFor(ok);
    const metadata = values(response);
    expect(metadata).to.include({ auth_method: 'jwt', subject: ALICE_SUB, consumer: 'c-alice', plan: 'free', service: 'chat' });
    expect(metadata).not.to.have.property('key_id');
  });

  it('denies a missing credential with HTTP 401, WWW-Authenticate and a problem+json body', async () => {
    const response = await client.check(checkRequest({}));
    const decision = lastDecision();
    expect(response.status.code).to.equal(GrpcStatus.UNAUTHENTICATED);
    expect(response.ok_response).to.equal(undefined);
    const denied = response.denied_response!;
    expect(denied.status.code).to.equal('Unauthorized');
    expect(statusNumbers.get(denied.status.code)).to.equal(401);
    expect(header(denied.headers, 'WWW-Authenticate')).to.equal('Bearer realm="portcullis"');
    expect(header(denied.headers, 'content-type')).to.equal(PROBLEM_CONTENT_TYPE);
    expect(header(denied.headers, H.decisionId)).to.equal(decision.id);
    expect(denied.headers.every((h) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD')).to.equal(true);
    expect(JSON.parse(denied.body)).to.include({ code: 'missing_credential', status: 401, instance: decision.id });
    expect(values(response)).to.include({ denial: 'missing_credential', decision_id: decision.id, service: 'chat' });
  });

  it('denies a wrong scope with HTTP 403 and PERMISSION_DENIED', async () => {
    const response = await client.check(checkRequest({ headers: bearer(keyNoScope.key) }));
    expect(response.status.code).to.equal(GrpcStatus.PERMISSION_DENIED);
    expect(statusNumbers.get(response.denied_response!.status.code)).to.equal(403);
    expect(header(response.denied_response!.headers, 'WWW-Authenticate')).to.contain('insufficient_scope');
    expect(JSON.parse(response.denied_response!.body)).to.include({ code: 'insufficient_scope', status: 403 });
    expect(values(response)).to.include({ subject: ALICE_SUB, key_id: 'k-noscope', denial: 'insufficient_scope' });
  });

  it('denies a rate-limited call with HTTP 429, Retry-After and RateLimit headers', async () => {
    const first = await client.check(checkRequest({ headers: bearer(keyLimited.key) }));
    expect(first.status.code).to.equal(GrpcStatus.OK);
    const response = await client.check(checkRequest({ headers: bearer(keyLimited.key) }));
    expect(response.status.code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);
    const denied = response.denied_response!;
    expect(denied.status.code).to.equal('TooManyRequests');
    expect(statusNumbers.get(denied.status.code)).to.equal(429);
    expect(Number(header(denied.headers, 'Retry-After'))).to.be.within(1, 60);
    expect(header(denied.headers, 'RateLimit')).to.match(/r=0/);
    expect(JSON.parse(denied.body)).to.include({ code: 'rate_limited', status: 429 });
  });

  it('answers "could not decide" on a fail-closed route as a gRPC UNAVAILABLE error, not a denial', async () => {
    const error = await expectGrpcError(storeDown.client.check(checkRequest({ path: '/billing/invoices', headers: bearer(keyOk.key) })));
    expect(error.code).to.equal(GrpcStatus.UNAVAILABLE);
    expect(error.details).to.contain('dependency_unavailable');
    // the same store outage on a fail-open route is no error (the core falls back), so the error is the route's doing
    const open = await storeDown.client.check(checkRequest({ path: '/embed/x', headers: bearer(keyOk.key) }));
    expect(open.status.code).to.equal(GrpcStatus.OK);
  });

  it('denies a target that climbs above the root as invalid_request without asking the engine', async () => {
    const before = engine.seen.length;
    const response = await client.check(checkRequest({ path: '/v1/../../etc/passwd', headers: bearer(keyOk.key) }));
    expect(engine.seen.length).to.equal(before);
    expect(observed).to.have.length(1);
    expect(observed[0]!.request).to.include({ adapter: 'ext_authz', clientIp: '203.0.113.9' });
    expect(observed[0]!.decision).to.include({ code: 'invalid_request' });
    expect(response.status.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    expect(statusNumbers.get(response.denied_response!.status.code)).to.equal(400);
    expect(JSON.parse(response.denied_response!.body)).to.include({ code: 'invalid_request', status: 400 });
  });

  it('passes context_extensions through, so an Envoy route can name its service explicitly', async () => {
    const response = await client.check(
      checkRequest({ path: '/anything', authority: 'other.example.com', headers: bearer(keyOk.key), contextExtensions: { service: 'embeddings' } }),
    );
    expect(lastSeen().contextExtensions).to.deep.equal({ service: 'embeddings' });
    expect(response.status.code).to.equal(GrpcStatus.OK);
    expect(values(response)).to.include({ service: 'embeddings', route: 'default' });
  });

  it('only uses HTTP statuses Envoy can express for every denial in the catalog', () => {
    const numbers = new Set(statusNumbers.values());
    const denials = Object.values(ERROR_CATALOG).filter((entry) => !('failure' in entry));
    for (const entry of denials) expect(numbers.has(entry.status), `status ${entry.status}`).to.equal(true);
  });

  it('serves grpc.health.v1: overall and ext_authz SERVING, unknown service NOT_FOUND', async () => {
    expect(await client.healthCheck()).to.equal('SERVING');
    expect(await client.healthCheck(EXT_AUTHZ_SERVICE)).to.equal('SERVING');
    const error = await expectGrpcError(client.healthCheck('no.such.Service'));
    expect(error.code).to.equal(GrpcStatus.NOT_FOUND);
  });

  it('streams health changes to watchers', async () => {
    const stream = client.healthClient['Watch']!({ service: EXT_AUTHZ_SERVICE }) as ClientReadableStream<{ status: string }>;
    const statuses: string[] = [];
    const twoUpdates = new Promise<void>((resolve, reject) => {
      stream.on('data', (message: { status: string }) => {
        statuses.push(message.status);
        if (statuses.length === 1) server.health.set('NOT_SERVING', EXT_AUTHZ_SERVICE);
        if (statuses.length === 2) resolve();
      });
      stream.on('error', reject);
    });
    await twoUpdates;
    stream.cancel();
    server.health.set('SERVING', EXT_AUTHZ_SERVICE);
    expect(statuses).to.deep.equal(['SERVING', 'NOT_SERVING']);
    expect(await client.healthCheck(EXT_AUTHZ_SERVICE)).to.equal('SERVING');
  });
});

describe('ext_authz gRPC server failures', () => {
  it('answers an internal_error decision, and an engine that throws, as gRPC INTERNAL without leaking anything', async () => {
    const broken = new PipelineEngine({
      state: () => {
        throw new Error('state store exploded');
      },
      resolvers: [],
      limiter: new MemoryRateLimiter(),
    });
    const throwing: DecisionEngine = {
      decide: () => {
        throw new Error('engine bug with a secret stack');
      },
    };
    const logged: unknown[] = [];
    for (const engine of [broken, throwing]) {
      const server = await startExtAuthzServer({ engine, port: 0, host: '127.0.0.1', logger: { error: (fields) => logged.push(fields) } });
      const client = createExtAuthzClient(`127.0.0.1:${server.port}`);
      try {
        const error = await expectGrpcError(client.check(checkRequest({})));
        expect(error.code).to.equal(GrpcStatus.INTERNAL);
        expect(error.details).not.to.contain('secret');
        expect(error.details).not.to.contain('exploded');
      } finally {
        client.close();
        await server.close();
      }
    }
    expect(logged).to.have.length(1);
  });
});

describe('ext_authz gRPC server shutdown', () => {
  /** An engine whose decisions wait until released, to hold calls in flight. */
  function heldEngine() {
    const held: (() => void)[] = [];
    const engine: DecisionEngine = {
      decide: (request) =>
        new Promise<Decision>((resolve) => {
          held.push(() =>
            resolve({ kind: 'deny', id: randomUUID(), code: 'missing_credential', detail: `held ${request.path}`, headers: [] }),
          );
        }),
    };
    return { engine, held };
  }

  it('drains: NOT_SERVING at once, calls in flight complete, new calls are refused', async () => {
    const { engine, held } = heldEngine();
    const server = await startExtAuthzServer({ engine, port: 0, host: '127.0.0.1', shutdownGraceMs: 10_000 });
    const client = createExtAuthzClient(`127.0.0.1:${server.port}`);
    try {
      const inFlight = client.check(checkRequest({ path: '/v1/slow' }), 10_000);
      while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
      const closed = server.close();
      expect(server.health.status()).to.equal('NOT_SERVING');
      const refused = await expectGrpcError(client.check(checkRequest({ path: '/v1/late' }), 2_000));
      expect(refused.code).to.be.oneOf([GrpcStatus.UNAVAILABLE, GrpcStatus.DEADLINE_EXCEEDED]);
      held[0]!();
      const response: ReceivedCheckResponse = await inFlight;
      expect(JSON.parse(response.denied_response!.body)).to.include({ detail: 'held /v1/slow' });
      await closed;
      expect(held).to.have.length(1);
    } finally {
      client.close();
    }
  });

  it('cuts calls that outlive the grace period', async () => {
    const { engine, held } = heldEngine();
    const server = await startExtAuthzServer({ engine, port: 0, host: '127.0.0.1', shutdownGraceMs: 200 });
    const client = createExtAuthzClient(`127.0.0.1:${server.port}`);
    try {
      const stuck = expectGrpcError(client.check(checkRequest({ path: '/v1/stuck' }), 10_000));
      while (held.length === 0) await new Promise((r) => setTimeout(r, 5));
      const started = Date.now();
      await server.close();
      expect(Date.now() - started).to.be.lessThan(5_000);
      expect((await stuck).code).to.be.oneOf([GrpcStatus.UNAVAILABLE, GrpcStatus.CANCELLED, GrpcStatus.INTERNAL]);
    } finally {
      client.close();
    }
  });
});

describe('identity header names', () => {
  it('are all distinct case-insensitively (a duplicate would be both set and removed)', () => {
    const names = identityHeaderList(H).map((h) => h.toLowerCase());
    expect(new Set(names).size).to.equal(names.length);
  });
});
