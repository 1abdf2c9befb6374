/**
 * One table of cases through both gateway adapters of one running authz-service: Traefik/nginx-style
 * forwardAuth over HTTP and Envoy ext_authz over gRPC (a real client built from the official protos).
 * Both must reach the same decision: same HTTP status, same error code, same identity for the upstream.
 */
import { expect } from 'chai';
import { createExtAuthzClient, type ExtAuthzClient, type ReceivedCheckResponse } from '../../authz-service/src/grpc/client.js';
import { DEFAULT_IDENTITY_HEADERS as H } from '../../authz-service/src/core/identity-headers.js';
import type { AuthzServiceHandles } from '../../authz-service/src/main.js';
import { sampleState, startTestAuthz, writeStateFile } from '../harness/authz.js';
import { send } from '../harness/http.js';
import { TestIssuer } from '../harness/oidc.js';
import { freePort } from '../harness/ports.js';

interface Case {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly headers: Record<string, string>;
  /** Expected HTTP status (200 = allow) and error code (deny). */
  readonly status: number;
  readonly code?: string;
}

interface Verdict {
  readonly status: number;
  readonly code: string | undefined;
  /** Identity headers for the upstream, decision id excluded (it differs per call by design). */
  readonly identity: Record<string, string>;
}

const IDENTITY = new Set(Object.values(H).filter((h) => h !== H.decisionId).map((h) => h.toLowerCase()));

describe('HTTP and gRPC adapters decide alike', function () {
  this.timeout(60_000);
  let idp: TestIssuer;
  let authz: AuthzServiceHandles;
  let grpc: ExtAuthzClient;
  let cases: Case[];

  before(async () => {
    idp = await TestIssuer.start();
    const { state, keys } = sampleState({ issuer: idp.issuer });
    const grpcPort = await freePort();
    authz = await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state), PORTCULLIS_EXT_AUTHZ_PORT: String(grpcPort), PORTCULLIS_EXT_AUTHZ_HOST: '127.0.0.1' });
    grpc = createExtAuthzClient(`127.0.0.1:${grpcPort}`);
    const chatToken = await idp.keycloakAccessToken({ scope: 'openid chat' });
    const plainToken = await idp.keycloakAccessToken({ scope: 'openid' });
    const idToken = await idp.keycloakIdToken();
    cases = [
      { name: 'valid API key', method: 'POST', path: '/llm/v1/chat/completions', headers: { 'x-api-key': keys.alice }, status: 200 },
      { name: 'API key as Bearer', method: 'POST', path: '/llm/v1/chat/completions', headers: { authorization: `Bearer ${keys.alice}` }, status: 200 },
      { name: 'API key in the query', method: 'GET', path: `/llm/v1/chat?user_key=${keys.alice}`, headers: {}, status: 200 },
      { name: 'valid JWT', method: 'POST', path: '/llm/v1/chat/completions', headers: { authorization: `Bearer ${chatToken}` }, status: 200 },
      { name: 'public route, no credential', method: 'GET', path: '/llm/v1/models', headers: {}, status: 200 },
      { name: 'missing credential', method: 'POST', path: '/llm/v1/chat/completions', headers: {}, status: 401, code: 'missing_credential' },
      { name: 'mistyped key', method: 'POST', path: '/llm/x', headers: { 'x-api-key': keys.alice.slice(0, -1) + '0' }, status: 401, code: 'malformed_api_key' },
      { name: 'garbage token', method: 'POST', path: '/llm/x', headers: { authorization: 'Bearer aaa.bbb.ccc' }, status: 401, code: 'invalid_token' },
      { name: 'ID token as access token', method: 'POST', path: '/llm/x', headers: { authorization: `Bearer ${idToken}` }, status: 401, code: 'wrong_token_type' },
      { name: 'key without the scope', method: 'POST', path: '/llm/v1/chat', headers: { 'x-api-key': keys.noScope }, status: 403, code: 'insufficient_scope' },
      { name: 'JWT without the scope', method: 'POST', path: '/llm/v1/chat', headers: { authorization: `Bearer ${plainToken}` }, status: 403, code: 'insufficient_scope' },
      { name: 'key restricted to another service', method: 'GET', path: '/llm/x', headers: { 'x-api-key': keys.restricted }, status: 403, code: 'service_not_allowed' },
      { name: 'no service', method: 'GET', path: '/nowhere', headers: { 'x-api-key': keys.alice }, status: 404, code: 'no_route' },
      { name: 'path climbing above the root', method: 'GET', path: '/../llm/x', headers: { 'x-api-key': keys.alice }, status: 400, code: 'invalid_request' },
      // bob's plan allows 2 a minute: the two adapters' first calls use them up, the rest are 429 on both
      { name: 'within the limit', method: 'GET', path: '/llm/x', headers: { 'x-api-key': keys.bob }, status: 200 },
      { name: 'over the limit', method: 'GET', path: '/llm/x', headers: { 'x-api-key': keys.bob }, status: 429, code: 'rate_limited' },
    ];
  });

  after(async () => {
    grpc?.close();
    await authz?.close();
    await idp?.close();
  });

  async function viaHttp(c: Case): Promise<Verdict> {
    const res = await send(authz.httpAddress.port, {
      path: '/forward-auth',
      headers: { ...c.headers, 'x-forwarded-method': c.method, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': c.path, 'x-forwarded-for': '203.0.113.5' },
    });
    const identity: Record<string, string> = {};
    for (const [name, value] of Object.entries(res.headers)) if (IDENTITY.has(name) && typeof value === 'string') identity[name] = value;
    return { status: res.status, code: res.status === 200 ? undefined : res.json<{ code: string }>().code, identity };
  }

  async function viaGrpc(c: Case): Promise<Verdict> {
    const headers: Record<string, string> = { ':method': c.method, ':path': c.path, ':authority': 'api.example.com', ':scheme': 'https' };
    for (const [name, value] of Object.entries(c.headers)) headers[name.toLowerCase()] = value;
    const reply: ReceivedCheckResponse = await grpc.check({
      attributes: {
        source: { address: { socket_address: { address: '203.0.113.5', port_value: 40000 } } },
        request: { http: { method: c.method, path: c.path, host: 'api.example.com', scheme: 'https', headers, protocol: 'HTTP/1.1' } },
      },
    });
    if (reply.status.code === 0) {
      const identity: Record<string, string> = {};
      for (const { header } of reply.ok_response?.headers ?? []) if (IDENTITY.has(header.key.toLowerCase())) identity[header.key.toLowerCase()] = header.value;
      return { status: 200, code: undefined, identity };
    }
    const denied = reply.denied_response!;
    const status = typeof denied.status.code === 'string' ? httpStatusOf(denied.status.code) : Number(denied.status.code);
    return { status, code: (JSON.parse(denied.body) as { code: string }).code, identity: {} };
  }

  it('gives the same answer to every case', async () => {
    expect(cases.length).to.be.greaterThan(10);
    for (const c of cases) {
      const [http, rpc] = [await viaHttp(c), await viaGrpc(c)];
      expect({ status: http.status, code: http.code }, `${c.name} over HTTP`).to.deep.equal({ status: c.status, code: c.code });
      expect(rpc, `${c.name}: gRPC differs from HTTP`).to.deep.equal(http);
      if (c.status === 200) expect(Object.keys(http.identity), `${c.name}: identity headers`).to.include(H.consumer.toLowerCase());
    }
  });
});

/** envoy.type.v3.StatusCode enum names as proto-loader renders them. */
function httpStatusOf(name: string): number {
  const known: Record<string, number> = { BadRequest: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, TooManyRequests: 429, InternalServerError: 500, ServiceUnavailable: 503 };
  const status = known[name];
  if (status === undefined) throw new Error(`unexpected envoy status ${name}`);
  return status;
}
