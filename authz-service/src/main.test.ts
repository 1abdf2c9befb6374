import { expect } from 'chai';
import { writeFileSync } from 'node:fs';
import { Writable } from 'node:stream';
import { stringify } from 'yaml';
import { sampleState, startTestAuthz, writeStateFile } from '../../test/harness/authz.js';
import { send } from '../../test/harness/http.js';
import { TestIssuer } from '../../test/harness/oidc.js';
import { freePort, waitFor } from '../../test/harness/ports.js';
import { createExtAuthzClient } from './grpc/client.js';
import { AuthzStartupError, type AuthzServiceHandles } from './main.js';

/** Traefik-style call: the original request travels in X-Forwarded-* headers. */
function traefik(port: number, uri: string, headers: Record<string, string> = {}, method = 'GET') {
  return send(port, { path: '/forward-auth', headers: { 'x-forwarded-method': method, 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': uri, 'x-forwarded-for': '203.0.113.7', ...headers } });
}

describe('startAuthzService', function () {
  this.timeout(20_000);
  let service: AuthzServiceHandles | undefined;
  let idp: TestIssuer | undefined;
  afterEach(async () => {
    await service?.close();
    service = undefined;
  });
  after(() => idp?.close());

  it('serves decisions from a DB-less state file: API key allow, 401, 403, 429, readiness and metrics', async () => {
    const { state, keys } = sampleState();
    service = await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state) });
    const port = service.httpAddress.port;
    expect((await send(port, { path: '/readyz' })).status).to.equal(200);

    const ok = await traefik(port, '/llm/v1/chat/completions', { 'x-api-key': keys.alice }, 'POST');
    expect(ok.status).to.equal(200);
    expect(ok.headers['x-portcullis-consumer']).to.equal('alice');
    expect(ok.headers['x-portcullis-key-id']).to.equal('alice-1');
    expect(ok.headers['ratelimit-policy']).to.be.a('string');

    const missing = await traefik(port, '/llm/v1/chat/completions');
    expect(missing.status).to.equal(401);
    expect(missing.headers['www-authenticate']).to.contain('Bearer');
    expect(missing.json()).to.include({ code: 'missing_credential' });

    expect((await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.restricted })).json()).to.include({ code: 'service_not_allowed', status: 403 });
    expect((await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.noScope })).json()).to.include({ code: 'insufficient_scope', status: 403 });
    expect((await traefik(port, '/nowhere', { 'x-api-key': keys.alice })).json()).to.include({ code: 'no_route', status: 404 });
    expect((await traefik(port, '/llm/v1/models')).status).to.equal(200);

    await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.bob });
    await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.bob });
    const limited = await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.bob });
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers['retry-after'])).to.be.within(1, 60);
    expect(limited.json()).to.include({ code: 'rate_limited' });

    const metrics = (await send(port, { path: '/metrics' })).body;
    expect(metrics).to.contain('portcullis_authz_decisions_total{outcome="deny",reason="rate_limited",adapter="forward_auth",service="llm"} 1');
    expect(metrics).to.contain('portcullis_authz_state_revision 1');
    expect(metrics).not.to.contain(keys.alice);
  });

  it('verifies JWTs from an issuer over real HTTP', async () => {
    idp = await TestIssuer.start();
    const { state } = sampleState({ issuer: idp.issuer });
    service = await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state) });
    const token = await idp.keycloakAccessToken({ scope: 'openid chat' });
    const res = await traefik(service.httpAddress.port, '/llm/v1/chat', { authorization: `Bearer ${token}` });
    expect(res.status, res.body).to.equal(200);
    expect(res.headers['x-portcullis-auth-method']).to.equal('jwt');
    expect(res.headers['x-portcullis-subject']).to.equal('f3a1c2d4-0000-4000-8000-000000000001');
    const again = await traefik(service.httpAddress.port, '/llm/v1/chat', { authorization: `Bearer ${token}` });
    expect(again.status).to.equal(200);
    const metrics = (await send(service.httpAddress.port, { path: '/metrics' })).body;
    expect(metrics).to.match(/portcullis_authz_token_cache_lookups_total\{result="hit"\} [1-9]/);
    expect(metrics).to.match(/portcullis_authz_jwks_fetches_total\{outcome="ok"\} [1-9]/);
    const forged = await traefik(service.httpAddress.port, '/llm/v1/chat', { authorization: `Bearer ${token.slice(0, -4)}AAAA` });
    expect(forged.status).to.equal(401);
  });

  it('serves Envoy ext_authz over gRPC from the same engine, state and metrics', async () => {
    const { state, keys } = sampleState();
    const grpcPort = await freePort();
    service = await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state), PORTCULLIS_EXT_AUTHZ_PORT: String(grpcPort), PORTCULLIS_EXT_AUTHZ_HOST: '127.0.0.1' });
    expect(service.extAuthz?.port).to.equal(grpcPort);
    const client = createExtAuthzClient(`127.0.0.1:${grpcPort}`);
    try {
      const http = (headers: Record<string, string>) => ({
        attributes: {
          source: { address: { socket_address: { address: '203.0.113.9', port_value: 5000 } } },
          request: { http: { method: 'POST', path: '/llm/v1/chat', host: 'api.example.com', scheme: 'https', headers: { ':path': '/llm/v1/chat', ':method': 'POST', ':authority': 'api.example.com', ...headers } } },
        },
      });
      const ok = await client.check(http({ 'x-api-key': keys.alice }));
      expect(ok.status.code).to.equal(0);
      expect(ok.ok_response?.headers.find((h) => h.header.key === 'X-Portcullis-Consumer')?.header.value).to.equal('alice');
      const denied = await client.check(http({}));
      expect(denied.denied_response?.status.code).to.equal('Unauthorized');
    } finally {
      client.close();
    }
    const metrics = (await send(service.httpAddress.port, { path: '/metrics' })).body;
    expect(metrics).to.contain('outcome="allow",reason="ok",adapter="ext_authz",service="llm"} 1');
    expect(metrics).to.contain('outcome="deny",reason="missing_credential",adapter="ext_authz",service="llm"} 1');
  });

  it('reloads the state file on change and keeps the previous state when a reload is invalid', async () => {
    const { state, keys } = sampleState();
    const path = writeStateFile(state);
    const lines: Record<string, unknown>[] = [];
    service = await startTestAuthz(
      { PORTCULLIS_STATE_FILE: path, PORTCULLIS_LOG_LEVEL: 'info' },
      { logDestination: new Writable({ write: (c, _e, cb) => (String(c).split('\n').filter(Boolean).forEach((l) => lines.push(JSON.parse(l))), cb()) }) },
    );
    const port = service.httpAddress.port;
    writeFileSync(path, 'services: [{ name: "Not A Slug" }]');
    const rejected = await service.reload();
    expect(rejected?.kind).to.equal('rejected');
    expect((await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.alice })).status).to.equal(200);
    expect(lines.some((l) => l['msg'] === 'state file rejected')).to.equal(true);

    // revoke alice's key: the watcher picks the change up without a signal
    writeFileSync(path, stringify({ ...state, revision: 2, keys: state.keys!.map((k) => (k.id === 'alice-1' ? { ...k, revoked: true } : k)) }));
    await waitFor(() => service!.store.current()?.revision === 2, 'the state file to reload');
    expect((await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.alice })).json()).to.include({ code: 'api_key_revoked' });
    const logText = JSON.stringify(lines);
    expect(logText).not.to.contain(keys.alice);
    expect(lines.some((l) => l['msg'] === 'denied' && l['code'] === 'api_key_revoked')).to.equal(true);
  });

  it('refuses to start on an invalid state file, listing every problem', async () => {
    const path = writeStateFile({ services: [{ name: 'Bad', upstream_urls: [], match: {} }] as never, keys: [{ id: 'k', consumer_id: 'x', secrets: [] }] as never });
    const error = await startTestAuthz({ PORTCULLIS_STATE_FILE: path }).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(AuthzStartupError);
    expect((error as AuthzStartupError).problems.length).to.be.greaterThan(2);
  });

  it('refuses a state with API keys when no pepper is configured', async () => {
    const path = writeStateFile(sampleState().state);
    const error = await startTestAuthz({ PORTCULLIS_STATE_FILE: path, PORTCULLIS_KEY_PEPPER: '' }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(AuthzStartupError);
    expect(String((error as Error).message)).to.contain('PORTCULLIS_KEY_PEPPER');
  });

  it('is not ready and fails closed without a state', async () => {
    service = await startTestAuthz();
    const port = service.httpAddress.port;
    expect((await send(port, { path: '/readyz' })).status).to.equal(503);
    const res = await traefik(port, '/llm/v1/chat', { 'x-api-key': 'pc_anything' });
    expect(res.status).to.equal(503);
    expect(res.json()).to.include({ code: 'state_stale' });
  });

  it('closes idempotently and releases the port', async () => {
    const { state } = sampleState();
    const s = await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state) });
    await Promise.all([s.close(), s.close()]);
    let refused = false;
    await send(s.httpAddress.port, { path: '/healthz' }).catch(() => (refused = true));
    expect(refused).to.equal(true);
  });

  it('stops gracefully: unready but still deciding for PORTCULLIS_SHUTDOWN_DRAIN_MS, then closed', async () => {
    const { state, keys } = sampleState();
    const s = await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state), PORTCULLIS_SHUTDOWN_DRAIN_MS: '1500' });
    const port = s.httpAddress.port;
    const closed = s.close();
    const readyz = await send(port, { path: '/readyz' });
    expect(readyz.status).to.equal(503);
    expect(readyz.json()).to.include({ status: 'draining' });
    const decided = await traefik(port, '/llm/v1/chat', { 'x-api-key': keys.alice });
    expect(decided.status).to.equal(200);
    expect(decided.headers['connection']).to.equal('close');
    await closed;
    let refused = false;
    await send(port, { path: '/healthz' }).catch(() => (refused = true));
    expect(refused).to.equal(true);
  });
});
