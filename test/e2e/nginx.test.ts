/**
 * End to end through REAL nginx running the configuration a REAL control plane serves:
 *   REST API (plans, issuer, services, consumers, keys) → GET /v1/state → authz-service (state file)
 *   REST API → GET /v1/gateway/nginx → nginx
 *   client → nginx (auth_request) → authz-service → sample upstream.
 * Nothing here is written by hand: what nginx runs and what the authz-service judges by are both what the
 * control plane renders and exports from the same services.
 */
import { expect } from 'chai';
import { nginxMainConfig } from '../../control-plane/src/gateway/nginx.js';
import { type Harness, startHarness } from '../../control-plane/src/testing/harness.js';
import type { AuthzServiceHandles } from '../../authz-service/src/main.js';
import { startTestAuthz, TEST_PEPPER, writeStateFile } from '../harness/authz.js';
import { send, type TestResponse } from '../harness/http.js';
import { NginxProcess, nginxMainOptions } from '../harness/nginx.js';
import { TestIssuer } from '../harness/oidc.js';
import { freePort } from '../harness/ports.js';
import { type EchoedRequest, type SampleUpstream, startSampleUpstream } from '../harness/upstream.js';

interface IssuedKeys {
  /** Plan "standard" (generous), scope "chat", service llm only. */
  readonly alice: string;
  readonly aliceId: string;
  /** Plan "tiny": 2 requests per minute. */
  readonly bob: string;
  /** Valid key restricted to another service. */
  readonly restricted: string;
  /** Valid key without the "chat" scope. */
  readonly noScope: string;
}

/** Everything through the REST API, as an operator would; fails loudly on any refusal. */
async function declare(cp: Harness, issuer: string, upstream: string): Promise<IssuedKeys> {
  const post = async (path: string, body: unknown) => {
    const reply = await cp.call('POST', path, { body });
    expect(reply.status, `POST ${path}: ${reply.text}`).to.equal(201);
    return reply.body;
  };
  await post('/v1/plans', { name: 'standard', limits: [{ window: '1s', requests: 1000 }] });
  await post('/v1/plans', { name: 'tiny', limits: [{ window: '1m', requests: 2 }] });
  await post('/v1/issuers', { issuer, audiences: [], authorized_parties: [] });
  await post('/v1/services', {
    name: 'llm',
    upstream_url: upstream,
    match: { path_prefix: '/llm' },
    plan: 'standard',
    query_key: 'user_key',
    routes: [
      { name: 'chat', path_prefix: '/llm/v1/chat', scopes: ['chat'] },
      { name: 'models', path_prefix: '/llm/v1/models', public: true },
    ],
  });
  await post('/v1/services', { name: 'other', upstream_url: upstream, match: { path_prefix: '/other' } });
  await post('/v1/consumers', { id: 'alice', name: 'Alice', plan: 'standard' });
  await post('/v1/consumers', { id: 'bob', name: 'Bob', plan: 'tiny' });
  await post('/v1/consumers', { id: 'carol', name: 'Carol' });
  const alice = await post('/v1/keys', { consumer_id: 'alice', scopes: ['chat'], services: ['llm'] });
  const bob = await post('/v1/keys', { consumer_id: 'bob', scopes: ['chat'], services: [] });
  const restricted = await post('/v1/keys', { consumer_id: 'carol', scopes: ['chat'], services: ['other'] });
  const noScope = await post('/v1/keys', { consumer_id: 'carol', services: [] });
  return { alice: alice.key, aliceId: alice.id, bob: bob.key, restricted: restricted.key, noScope: noScope.key };
}

describe('e2e: client → real nginx (config from GET /v1/gateway/nginx) → authz-service (state from GET /v1/state) → upstream', function () {
  this.timeout(120_000);
  let idp: TestIssuer;
  let upstream: SampleUpstream;
  let cp: Harness;
  let authz: AuthzServiceHandles;
  let nginx: NginxProcess;
  let port: number;
  let keys: IssuedKeys;

  before(async () => {
    idp = await TestIssuer.start();
    upstream = await startSampleUpstream();
    // the control plane renders the authz-service's address into nginx's config, so it is chosen first
    const authzPort = await freePort();
    cp = await startHarness('postgres', 'e2e_nginx', {
      env: { PORTCULLIS_KEY_PEPPER: TEST_PEPPER, PORTCULLIS_GATEWAY_AUTHZ_URL: `http://127.0.0.1:${authzPort}` },
    });
    keys = await declare(cp, idp.issuer, `http://127.0.0.1:${upstream.port}`);

    const state = await cp.call('GET', '/v1/state');
    expect(state.status, state.text).to.equal(200);
    authz = await startTestAuthz({
      PORTCULLIS_STATE_FILE: writeStateFile(state.body),
      PORTCULLIS_AUTHZ_PORT: String(authzPort),
      PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32',
    });

    port = await freePort();
    const site = await cp.call('GET', `/v1/gateway/nginx?listen_host=127.0.0.1&listen_port=${port}`);
    expect(site.status, site.text).to.equal(200);
    expect(site.headers.get('content-type')).to.match(/^text\/plain/);
    nginx = await NginxProcess.start((prefix) => nginxMainConfig(site.text, nginxMainOptions(prefix)), port);
  });
  after(async () => {
    await nginx?.stop();
    await authz?.close();
    await cp?.close();
    await upstream?.close();
    await idp?.close();
  });

  const call = (path: string, headers: Record<string, string> = {}, method = 'GET', body?: string) =>
    send(port, { path, method, headers: { host: 'api.example.com', ...headers }, ...(body ? { body } : {}) });
  const echoed = (res: TestResponse): EchoedRequest => {
    expect(res.status, res.body).to.equal(200);
    return res.json<EchoedRequest>();
  };

  it('allows an API key: identity headers reach the upstream, spoofed ones are overwritten, the key does not', async () => {
    const res = await call('/llm/v1/chat/sessions?x=1', {
      'x-api-key': keys.alice,
      'x-portcullis-subject': 'mallory',
      'x-portcullis-consumer': 'mallory',
      'x-portcullis-plan': 'unlimited',
    });
    const seen = echoed(res);
    expect(seen.url).to.equal('/llm/v1/chat/sessions?x=1');
    expect(seen.headers['x-portcullis-subject']).to.equal('alice');
    expect(seen.headers['x-portcullis-consumer']).to.equal('alice');
    expect(seen.headers['x-portcullis-key-id']).to.equal(keys.aliceId);
    expect(seen.headers['x-portcullis-auth-method']).to.equal('api_key');
    expect(seen.headers['x-portcullis-scopes']).to.equal('chat');
    expect(seen.headers['x-portcullis-plan']).to.equal('standard');
    expect(seen.headers['x-portcullis-decision-id']).to.be.a('string');
    expect(seen.headers['x-api-key']).to.equal(undefined);
    expect(JSON.stringify(seen)).not.to.contain(keys.alice);
    expect(res.headers['ratelimit-policy']).to.be.a('string');
  });

  it('strips an API key sent as a bearer token (OpenAI clients) and proxies a chat completion, streamed', async () => {
    const plain = await call('/llm/v1/chat/completions', { authorization: `Bearer ${keys.alice}`, 'content-type': 'application/json' }, 'POST', JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'hello there' }] }));
    expect(plain.status, plain.body).to.equal(200);
    expect(plain.json<{ choices: { message: { content: string } }[] }>().choices[0]!.message.content).to.equal('echo: hello there');
    const last = upstream.received.at(-1)!;
    expect(last.headers['authorization']).to.equal(undefined);
    expect(last.headers['x-portcullis-consumer']).to.equal('alice');
    const streamed = await call('/llm/v1/chat/completions', { authorization: `Bearer ${keys.alice}` }, 'POST', JSON.stringify({ stream: true, messages: [{ content: 'a b' }] }));
    expect(streamed.headers['content-type']).to.equal('text/event-stream');
    expect(streamed.body).to.contain('data: [DONE]');
  });

  it('strips a key passed as ?user_key= from the query the upstream sees', async () => {
    const seen = echoed(await call(`/llm/v1/chat/x?a=1&user_key=${keys.alice}&b=2`));
    expect(seen.url).to.equal('/llm/v1/chat/x?a=1&b=2');
    expect(seen.headers['x-portcullis-key-id']).to.equal(keys.aliceId);
    const first = echoed(await call(`/llm/v1/chat/x?user_key=${keys.alice}`));
    expect(first.url).to.equal('/llm/v1/chat/x');
    expect(JSON.stringify(first)).not.to.contain(keys.alice);
  });

  it('allows a JWT from a real issuer', async () => {
    const token = await idp.keycloakAccessToken({ scope: 'openid chat' });
    const seen = echoed(await call('/llm/v1/chat', { authorization: `Bearer ${token}` }));
    expect(seen.headers['x-portcullis-auth-method']).to.equal('jwt');
    expect(seen.headers['x-portcullis-subject']).to.equal('f3a1c2d4-0000-4000-8000-000000000001');
    expect(seen.headers['x-portcullis-name']).to.equal('alice');
    expect(seen.headers['authorization']).to.equal(undefined);
  });

  it('serves a public route without credentials', async () => {
    const res = await call('/llm/v1/models');
    expect(res.status).to.equal(200);
    expect(res.json<{ object: string }>().object).to.equal('list');
    expect(upstream.received.at(-1)!.headers['x-portcullis-auth-method']).to.equal('anonymous');
  });

  it('answers 401 with WWW-Authenticate: no credential, unknown key, mistyped key, expired token', async () => {
    const missing = await call('/llm/v1/chat');
    expect(missing.status).to.equal(401);
    expect(missing.headers['www-authenticate']).to.match(/^Bearer realm="portcullis"/);
    expect(missing.headers['content-type']).to.equal('application/problem+json');
    expect(missing.json()).to.include({ code: 'missing_credential', status: 401 });
    expect(missing.json()['instance']).to.be.a('string').and.not.equal('');

    const typo = keys.alice.slice(0, -1) + (keys.alice.endsWith('x') ? 'y' : 'x');
    expect((await call('/llm/v1/chat', { 'x-api-key': typo })).json()).to.include({ code: 'malformed_api_key' });
    const expired = await idp.keycloakAccessToken({ exp: Math.floor(Date.now() / 1000) - 600, scope: 'chat' });
    const res = await call('/llm/v1/chat', { authorization: `Bearer ${expired}` });
    expect(res.status).to.equal(401);
    expect(res.headers['www-authenticate']).to.contain('invalid_token');
    expect(res.json()).to.include({ code: 'token_expired' });
  });

  it('answers 403 for a missing scope and for a key restricted to another service', async () => {
    const scope = await call('/llm/v1/chat', { 'x-api-key': keys.noScope });
    expect(scope.status).to.equal(403);
    expect(scope.json()).to.include({ code: 'insufficient_scope', status: 403 });
    expect((await call('/llm/v1/chat', { 'x-api-key': keys.restricted })).json()).to.include({ code: 'service_not_allowed' });
  });

  it('answers 429 with Retry-After and RateLimit headers reaching the client', async () => {
    const statuses: number[] = [];
    let last: TestResponse | undefined;
    for (let i = 0; i < 3; i++) {
      last = await call('/llm/v1/chat', { 'x-api-key': keys.bob });
      statuses.push(last.status);
    }
    expect(statuses).to.deep.equal([200, 200, 429]);
    expect(Number(last!.headers['retry-after'])).to.be.within(1, 60);
    expect(last!.headers['ratelimit-policy']).to.be.a('string');
    expect(last!.headers['ratelimit']).to.be.a('string');
    expect(last!.headers['content-type']).to.equal('application/problem+json');
    expect(last!.json()).to.include({ code: 'rate_limited', status: 429, title: 'Rate limit exceeded' });
  });

  it('answers 404 no_route for paths no service claims', async () => {
    const res = await call('/nothing/here', { 'x-api-key': keys.alice });
    expect(res.status).to.equal(404);
    expect(res.json()).to.include({ code: 'no_route' });
  });

  it('answers 400 invalid_request for a target the core refuses, instead of nginx 500', async () => {
    const res = await call('/llm/v1/a%2Fb', { 'x-api-key': keys.alice });
    expect(res.status).to.equal(400);
    expect(res.json()).to.include({ code: 'invalid_request' });
  });
});
