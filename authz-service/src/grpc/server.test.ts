import { randomUUID } from 'node:crypto';
import { status as GrpcStatus, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { expect } from 'chai';
import type { Decision, Principal } from '../core/decision.js';
import type { DecisionEngine } from '../core/engine.js';
import { ERROR_CATALOG, type ErrorCode, PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import { DEFAULT_IDENTITY_HEADERS as H, identityHeaderList } from '../core/identity-headers.js';
import type { NormalizedRequest } from '../core/request.js';
import { compileState, type CompiledState } from '../state/compile.js';
import { createExtAuthzClient, type ExtAuthzClient, type ReceivedCheckResponse } from './client.js';
import type { CheckRequestMessage } from './ext-authz-messages.js';
import { loadExtAuthzDefinition } from './protos.js';
import { EXT_AUTHZ_SERVICE, type ExtAuthzServer, startExtAuthzServer } from './server.js';

function compiled(): CompiledState {
  const result = compileState({
    plans: [{ name: 'gold', limits: [{ window: '1m', requests: 100 }] }],
    services: [
      {
        name: 'chat',
        upstream_urls: ['http://127.0.0.1:9000'],
        match: { host: 'api.example.com', path_prefix: '/v1' },
        routes: [{ name: 'completions', path_prefix: '/v1/chat', scopes: ['chat:write'] }],
      },
      { name: 'embeddings', upstream_urls: ['http://127.0.0.1:9001'], match: { path_prefix: '/embed' } },
      { name: 'billing', upstream_urls: ['http://127.0.0.1:9002'], match: { path_prefix: '/billing' }, fail_mode: 'closed' },
    ],
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.state;
}

const KEY_PRINCIPAL: Principal = {
  authMethod: 'api_key',
  subject: 'consumer-1',
  consumerId: 'consumer-1',
  keyId: 'key-1',
  plan: 'gold',
  scopes: new Set(['chat:write']),
  roles: new Set(),
};
const JWT_PRINCIPAL: Principal = {
  authMethod: 'jwt',
  subject: 'user-42',
  consumerId: 'consumer-7',
  issuer: 'https://idp.example.com/realms/ml',
  name: 'ada',
  scopes: new Set(['chat:write']),
  roles: new Set(),
};

/**
 * Stands in for the decision core (which judges credentials elsewhere): routes with the real compiled state
 * and answers each Decision kind for a scripted credential, so that every mapping the adapter does is seen.
 */
class ScriptedEngine implements DecisionEngine {
  readonly seen: NormalizedRequest[] = [];
  readonly decided: Decision[] = [];
  constructor(private readonly state: CompiledState) {}

  async decide(request: NormalizedRequest): Promise<Decision> {
    this.seen.push(request);
    const decision = this.#decide(request);
    this.decided.push(decision);
    return decision;
  }

  #decide(request: NormalizedRequest): Decision {
    const id = randomUUID();
    const match = this.state.matchRoute(request.host, request.path, request.method, request.contextExtensions);
    if (match.kind === 'no_route') return { kind: 'deny', id, code: 'no_route', detail: 'no service', headers: [] };
    const route = match.route.ref;
    if (match.service.spec.fail_mode === 'closed') {
      return { kind: 'deny', id, code: 'dependency_unavailable', detail: 'the rate-limit store is unreachable', headers: [], route };
    }
    const deny = (code: ErrorCode, headers: [string, string][] = [], principal?: Principal): Decision => ({
      kind: 'deny',
      id,
      code,
      detail: `scripted ${code}`,
      headers,
      route,
      ...(principal ? { principal } : {}),
    });
    const allow = (principal: Principal, credentialHeader: string): Decision => ({
      kind: 'allow',
      id,
      route,
      principal,
      upstreamHeaders: [
        [H.subject, principal.subject],
        [H.consumer, principal.consumerId],
        [H.authMethod, principal.authMethod],
        [H.scopes, [...principal.scopes].join(' ')],
        [H.decisionId, id],
        ...(principal.keyId ? ([[H.keyId, principal.keyId]] as const) : []),
        ...(principal.plan ? ([[H.plan, principal.plan]] as const) : []),
        ...(principal.name ? ([[H.name, principal.name]] as const) : []),
      ],
      removeHeaders: [credentialHeader],
      removeQueryParams: request.query.includes('user_key=') ? ['user_key'] : [],
      responseHeaders: [
        ['RateLimit-Policy', '"1m";q=100;w=60'],
        ['RateLimit', '"1m";r=99;t=60'],
      ],
    });
    switch (request.headers['authorization']) {
      case undefined:
        return deny('missing_credential', [['WWW-Authenticate', 'Bearer realm="portcullis"']]);
      case 'Bearer pc_ok':
        return allow(KEY_PRINCIPAL, 'Authorization');
      case 'Bearer eyJ.jwt.ok':
        return allow(JWT_PRINCIPAL, 'Authorization');
      case 'Bearer pc_noscope':
        return deny('insufficient_scope', [['WWW-Authenticate', 'Bearer error="insufficient_scope", scope="chat:write"']], KEY_PRINCIPAL);
      case 'Bearer pc_limited':
        return deny(
          'rate_limited',
          [
            ['Retry-After', '7'],
            ['RateLimit-Policy', '"1m";q=100;w=60'],
            ['RateLimit', '"1m";r=0;t=7'],
          ],
          KEY_PRINCIPAL,
        );
      case 'Bearer boom':
        throw new Error('engine bug with a secret stack');
      default:
        return deny('unknown_api_key', [['WWW-Authenticate', 'Bearer error="invalid_token"']]);
    }
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

describe('ext_authz gRPC server (real client, official protos)', () => {
  let engine: ScriptedEngine;
  let server: ExtAuthzServer;
  let client: ExtAuthzClient;
  const statusNumbers = statusCodeNumbers();

  before(async () => {
    engine = new ScriptedEngine(compiled());
    server = await startExtAuthzServer({ engine, port: 0, host: '127.0.0.1' });
    client = createExtAuthzClient(`127.0.0.1:${server.port}`);
  });
  after(async () => {
    client.close();
    await server.close();
  });

  const lastSeen = () => engine.seen[engine.seen.length - 1]!;
  const lastDecision = () => engine.decided[engine.decided.length - 1]!;

  it('maps the CheckRequest into the normalised request the core judges', async () => {
    await client.check(
      checkRequest({ method: 'post', path: '/v1/chat/./completions?user_key=abc&x=1', authority: 'API.Example.com:8443', headers: { authorization: 'Bearer pc_ok' } }),
    );
    const seen = lastSeen();
    expect(seen).to.include({ method: 'POST', scheme: 'https', host: 'api.example.com', path: '/v1/chat/completions', query: 'user_key=abc&x=1' });
    expect(seen.clientIp).to.equal('203.0.113.9');
    expect(seen.adapter).to.equal('ext_authz');
    expect(seen.headers['authorization']).to.equal('Bearer pc_ok');
    expect(seen.headers[':authority']).to.equal('API.Example.com:8443');
    expect(seen.contextExtensions).to.equal(undefined);
  });

  it('allows a valid API key: identity headers overwrite, credential and unset identity headers removed, RateLimit and metadata', async () => {
    const response = await client.check(checkRequest({ path: '/v1/chat/completions?user_key=abc', headers: { authorization: 'Bearer pc_ok' } }));
    const decision = lastDecision();
    expect(response.status.code).to.equal(GrpcStatus.OK);
    expect(response.denied_response).to.equal(undefined);
    const ok = response.ok_response!;
    expect(header(ok.headers, H.subject)).to.equal('consumer-1');
    expect(header(ok.headers, H.keyId)).to.equal('key-1');
    expect(header(ok.headers, H.plan)).to.equal('gold');
    expect(header(ok.headers, H.decisionId)).to.equal(decision.id);
    expect(ok.headers.map((h) => h.append_action)).to.satisfy((actions: string[]) => actions.length > 0 && actions.every((a) => a === 'OVERWRITE_IF_EXISTS_OR_ADD'));
    // the credential, and the one identity header this decision does not set (a client could have sent it)
    expect(ok.headers_to_remove).to.have.members(['authorization', H.name.toLowerCase()]);
    expect(header(ok.response_headers_to_add, 'RateLimit')).to.equal('"1m";r=99;t=60');
    expect(header(ok.response_headers_to_add, 'RateLimit-Policy')).to.equal('"1m";q=100;w=60');
    expect(ok.query_parameters_to_remove).to.deep.equal(['user_key']);
    const fields = response.dynamic_metadata!.fields;
    expect(Object.fromEntries(Object.entries(fields).map(([k, v]) => [k, v.stringValue]))).to.deep.equal({
      decision_id: decision.id,
      service: 'chat',
      route: 'completions',
      subject: 'consumer-1',
      consumer: 'consumer-1',
      plan: 'gold',
      key_id: 'key-1',
      auth_method: 'api_key',
    });
  });

  it('allows a valid JWT: no key id anywhere, the name header set and therefore not removed', async () => {
    const response = await client.check(checkRequest({ headers: { authorization: 'Bearer eyJ.jwt.ok' } }));
    const ok = response.ok_response!;
    expect(response.status.code).to.equal(GrpcStatus.OK);
    expect(header(ok.headers, H.subject)).to.equal('user-42');
    expect(header(ok.headers, H.name)).to.equal('ada');
    expect(ok.headers_to_remove).to.have.members(['authorization', H.keyId.toLowerCase(), H.plan.toLowerCase()]);
    expect(ok.query_parameters_to_remove).to.deep.equal([]);
    const fields = response.dynamic_metadata!.fields;
    expect(fields['auth_method']?.stringValue).to.equal('jwt');
    expect(fields['consumer']?.stringValue).to.equal('consumer-7');
    expect(fields).not.to.have.any.keys('key_id', 'plan');
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
    expect(denied.headers.every((h) => h.append_action === 'OVERWRITE_IF_EXISTS_OR_ADD')).to.equal(true);
    expect(JSON.parse(denied.body)).to.deep.include({ code: 'missing_credential', status: 401, instance: decision.id, detail: 'scripted missing_credential' });
    expect(response.dynamic_metadata!.fields['denial']?.stringValue).to.equal('missing_credential');
  });

  it('denies a wrong scope with HTTP 403 and PERMISSION_DENIED', async () => {
    const response = await client.check(checkRequest({ headers: { authorization: 'Bearer pc_noscope' } }));
    expect(response.status.code).to.equal(GrpcStatus.PERMISSION_DENIED);
    expect(statusNumbers.get(response.denied_response!.status.code)).to.equal(403);
    expect(header(response.denied_response!.headers, 'WWW-Authenticate')).to.contain('insufficient_scope');
    expect(JSON.parse(response.denied_response!.body)).to.include({ code: 'insufficient_scope', status: 403 });
    expect(response.dynamic_metadata!.fields['subject']?.stringValue).to.equal('consumer-1');
  });

  it('denies a rate-limited call with HTTP 429, Retry-After and RateLimit headers', async () => {
    const response = await client.check(checkRequest({ headers: { authorization: 'Bearer pc_limited' } }));
    expect(response.status.code).to.equal(GrpcStatus.RESOURCE_EXHAUSTED);
    const denied = response.denied_response!;
    expect(denied.status.code).to.equal('TooManyRequests');
    expect(statusNumbers.get(denied.status.code)).to.equal(429);
    expect(header(denied.headers, 'Retry-After')).to.equal('7');
    expect(header(denied.headers, 'RateLimit')).to.equal('"1m";r=0;t=7');
    expect(JSON.parse(denied.body)).to.include({ code: 'rate_limited', status: 429 });
  });

  it('answers "could not decide" on a fail-closed route as a gRPC UNAVAILABLE error, not a denial', async () => {
    const error = await expectGrpcError(client.check(checkRequest({ path: '/billing/invoices', headers: { authorization: 'Bearer pc_ok' } })));
    expect(error.code).to.equal(GrpcStatus.UNAVAILABLE);
    expect(error.details).to.contain('dependency_unavailable');
  });

  it('answers an engine failure as INTERNAL without leaking the error', async () => {
    const error = await expectGrpcError(client.check(checkRequest({ headers: { authorization: 'Bearer boom' } })));
    expect(error.code).to.equal(GrpcStatus.INTERNAL);
    expect(error.details).to.equal('internal_error');
  });

  it('denies a target that climbs above the root as invalid_request without asking the engine', async () => {
    const before = engine.seen.length;
    const response = await client.check(checkRequest({ path: '/v1/../../etc/passwd', headers: { authorization: 'Bearer pc_ok' } }));
    expect(engine.seen.length).to.equal(before);
    expect(response.status.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    expect(statusNumbers.get(response.denied_response!.status.code)).to.equal(400);
    expect(JSON.parse(response.denied_response!.body)).to.include({ code: 'invalid_request', status: 400 });
  });

  it('passes context_extensions through, so a route can name its service explicitly', async () => {
    const response = await client.check(
      checkRequest({ path: '/anything', authority: 'other.example.com', headers: { authorization: 'Bearer pc_ok' }, contextExtensions: { service: 'embeddings' } }),
    );
    expect(lastSeen().contextExtensions).to.deep.equal({ service: 'embeddings' });
    expect(response.dynamic_metadata!.fields['service']?.stringValue).to.equal('embeddings');
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
