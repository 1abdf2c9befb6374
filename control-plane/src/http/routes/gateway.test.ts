/**
 * GET /v1/gateway/{traefik,nginx,envoy} on a real control plane (Postgres and PGlite): who may read them,
 * that every Traefik document validates against the Traefik v3 schema and every Envoy document decodes
 * strictly with the official protos, and that services added and removed through the REST API appear in
 * and disappear from the next document.
 */
import { assert } from 'chai';
import { BOOTSTRAP_TYPE, bootstrapProtoRoot } from '../../../../test/harness/envoy-protos.js';
import { strictProtoJsonErrors } from '../../../../test/harness/strict-proto-json.js';
import { expectValidTraefikDynamic } from '../../../../test/harness/traefik-schema.js';
import { EXT_AUTHZ_CLUSTER, serviceCluster } from '../../gateway/envoy.js';
import { FORWARD_AUTH_MIDDLEWARE, resourceName } from '../../gateway/traefik.js';
import { forEachBackend, type Harness, type Reply } from '../../testing/harness.js';

const GATEWAY_TOKEN = 'gateway-token-for-tests-0123456789abcdef';

const ENV = {
  PORTCULLIS_GATEWAY_TOKEN: GATEWAY_TOKEN,
  PORTCULLIS_GATEWAY_AUTHZ_URL: 'http://authz.internal:18181',
  PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: 'authz.internal:19191',
  PORTCULLIS_IDENTITY_HEADERS: '{"subject":"X-User-Id"}',
  PORTCULLIS_GATEWAY_ENTRYPOINTS: 'web, websecure',
};

const GATEWAYS = ['traefik', 'nginx', 'envoy'] as const;

function assertProblem(reply: Reply, status: number, code: string): void {
  assert.equal(reply.status, status, reply.text);
  assert.equal(reply.headers.get('content-type')?.split(';')[0], 'application/problem+json');
  assert.equal(reply.body.code, code);
}

forEachBackend('gateway configuration endpoints', (harness) => {
  const root = bootstrapProtoRoot();
  const traefik = async (h: Harness) => {
    const reply = await h.call('GET', '/v1/gateway/traefik', { token: GATEWAY_TOKEN });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.get('content-type')?.split(';')[0], 'application/json');
    expectValidTraefikDynamic(reply.body);
    return reply.body;
  };
  const envoy = async (h: Harness, query = '') => {
    const reply = await h.call('GET', `/v1/gateway/envoy${query}`, { token: GATEWAY_TOKEN });
    assert.equal(reply.status, 200, reply.text);
    assert.deepEqual(strictProtoJsonErrors(root, BOOTSTRAP_TYPE, reply.body), []);
    return reply.body;
  };
  const nginx = async (h: Harness, query = '') => {
    const reply = await h.call('GET', `/v1/gateway/nginx${query}`, { token: GATEWAY_TOKEN });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.get('content-type'), 'text/plain; charset=utf-8');
    return reply.text;
  };
  const envoyClusters = (doc: any): string[] => doc.static_resources.clusters.map((c: any) => c.name);

  it('serves a complete, valid Traefik document for an empty state, pointing at the configured authz-service', async () => {
    const doc = await traefik(harness());
    assert.deepEqual(doc.http.routers, {});
    assert.deepEqual(doc.http.services, {});
    const forwardAuth = doc.http.middlewares[FORWARD_AUTH_MIDDLEWARE].forwardAuth;
    assert.equal(forwardAuth.address, 'http://authz.internal:18181/forward-auth');
    assert.include(forwardAuth.authResponseHeaders, 'X-User-Id', 'the identity headers the data plane is configured with');
    assert.notInclude(forwardAuth.authResponseHeaders, 'X-Portcullis-Subject');
    const bootstrap = await envoy(harness());
    assert.deepEqual(envoyClusters(bootstrap), [EXT_AUTHZ_CLUSTER]);
    const ext = bootstrap.static_resources.clusters[0].load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address;
    assert.deepEqual(ext, { address: 'authz.internal', port_value: 19191 });
    const site = await nginx(harness());
    assert.include(site, 'server authz.internal:18181;');
    assert.notInclude(site, 'portcullis_svc_');
  });

  it('follows the services: one added through the REST API appears in the next documents, and goes when deleted', async () => {
    const h = harness();
    const created = await h.call('POST', '/v1/services', {
      body: { name: 'chat', upstream_urls: ['http://chat-a:8000', 'http://chat-b:8000'], match: { host: 'api.example.com', path_prefix: '/v1/chat' } },
    });
    assert.equal(created.status, 201, created.text);
    const second = await h.call('POST', '/v1/services', { body: { name: 'embed', upstream_url: 'https://embed.internal', match: { path_prefix: '/embed' } } });
    assert.equal(second.status, 201, second.text);

    const withBoth = await traefik(h);
    assert.sameMembers(Object.keys(withBoth.http.routers), [resourceName('chat'), resourceName('embed')]);
    assert.deepEqual(withBoth.http.routers[resourceName('chat')].entryPoints, ['web', 'websecure']);
    assert.deepEqual(withBoth.http.services[resourceName('chat')].loadBalancer.servers, [{ url: 'http://chat-a:8000' }, { url: 'http://chat-b:8000' }]);
    assert.include(await nginx(h), 'upstream portcullis_svc_chat {');
    assert.includeMembers(envoyClusters(await envoy(h)), [serviceCluster('chat'), serviceCluster('embed')]);

    assert.equal((await h.call('DELETE', '/v1/services/chat')).status, 204);
    const withOne = await traefik(h);
    assert.deepEqual(Object.keys(withOne.http.routers), [resourceName('embed')]);
    assert.deepEqual(Object.keys(withOne.http.services), [resourceName('embed')]);
    const site = await nginx(h);
    assert.notInclude(site, 'portcullis_svc_chat');
    assert.include(site, 'upstream portcullis_svc_embed {');
    assert.deepEqual(envoyClusters(await envoy(h)), [EXT_AUTHZ_CLUSTER, serviceCluster('embed')]);

    assert.equal((await h.call('DELETE', '/v1/services/embed')).status, 204);
    assert.deepEqual((await traefik(h)).http.routers, {});
  });

  it('places the nginx and Envoy listener and nginx\'s authz-service replicas where the query says, and refuses a bad one', async () => {
    const h = harness();
    assert.include(await nginx(h, '?listen_host=127.0.0.1&listen_port=8088'), 'listen 127.0.0.1:8088 default_server;');
    assert.include(await nginx(h), 'listen 0.0.0.0:10000 default_server;');
    const balanced = await nginx(h, '?authz_servers=10.0.0.7:8181,%20[::1]:8181');
    assert.match(balanced, /upstream portcullis_authz \{\n {2}server 10\.0\.0\.7:8181;\n {2}server \[::1\]:8181;\n/);
    assert.notInclude(balanced, 'authz.internal');
    for (const bad of ['authz_servers=', 'authz_servers=10.0.0.7', 'authz_servers=10.0.0.7:8181,,10.0.0.8:8181', 'authz_servers=http://10.0.0.7:8181']) {
      assertProblem(await h.call('GET', `/v1/gateway/nginx?${bad}`, { token: GATEWAY_TOKEN }), 400, 'validation_failed');
    }
    const bootstrap = await envoy(h, '?listen_port=8443&listen_host=::');
    assert.deepEqual(bootstrap.static_resources.listeners[0].address.socket_address, { address: '::', port_value: 8443 });
    for (const bad of ['listen_port=0', 'listen_port=http', 'listen_host=example.com', 'listen_hots=1.2.3.4']) {
      for (const gateway of ['nginx', 'envoy']) {
        assertProblem(await h.call('GET', `/v1/gateway/${gateway}?${bad}`, { token: GATEWAY_TOKEN }), 400, 'validation_failed');
      }
    }
  });

  it('answers 401 problem+json without a credential or with a wrong one, on every gateway endpoint', async () => {
    const h = harness();
    for (const gateway of GATEWAYS) {
      const missing = await h.call('GET', `/v1/gateway/${gateway}`, { token: null });
      assertProblem(missing, 401, 'missing_credential');
      assert.match(missing.headers.get('www-authenticate') ?? '', /^Bearer/);
      assertProblem(await h.call('GET', `/v1/gateway/${gateway}`, { token: `${GATEWAY_TOKEN}x` }), 401, 'invalid_token');
      assertProblem(await h.call('GET', `/v1/gateway/${gateway}`, { token: GATEWAY_TOKEN.slice(0, -1) }), 401, 'invalid_token');
    }
  });

  it('admits the gateway token, an administrator and a key with the portcullis:gateway scope; the token opens nothing else', async () => {
    const h = harness();
    const consumer = await h.call('POST', '/v1/consumers', { body: { name: 'edge' } });
    const scoped = await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: [], scopes: ['portcullis:gateway'] } });
    const plain = await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: [] } });
    assert.equal(scoped.status, 201, scoped.text);
    for (const gateway of GATEWAYS) {
      for (const token of [GATEWAY_TOKEN, h.adminKey, scoped.body.key]) {
        assert.equal((await h.call('GET', `/v1/gateway/${gateway}`, { token })).status, 200, `${gateway} with ${token === GATEWAY_TOKEN ? 'the gateway token' : 'a key'}`);
      }
      assertProblem(await h.call('GET', `/v1/gateway/${gateway}`, { token: plain.body.key }), 403, 'forbidden');
    }
    assertProblem(await h.call('GET', '/v1/state', { token: GATEWAY_TOKEN }), 403, 'forbidden');
    assertProblem(await h.call('GET', '/v1/services', { token: GATEWAY_TOKEN }), 403, 'forbidden');
    assertProblem(await h.call('POST', '/v1/plans', { token: GATEWAY_TOKEN, body: { name: 'nope', limits: [] } }), 403, 'forbidden');
    assertProblem(await h.call('GET', '/v1/me', { token: GATEWAY_TOKEN }), 403, 'forbidden');
    assertProblem(await h.call('GET', '/v1/state', { token: scoped.body.key }), 403, 'forbidden');
  });

  it('documents the three endpoints in the OpenAPI document, nginx as text/plain', async () => {
    const doc = (await harness().call('GET', '/openapi.json', { token: null })).body;
    for (const gateway of GATEWAYS) assert.property(doc.paths, `/v1/gateway/${gateway}`);
    assert.property(doc.paths['/v1/gateway/nginx'].get.responses['200'].content, 'text/plain');
    assert.property(doc.paths['/v1/gateway/traefik'].get.responses['200'].content, 'application/json');
    assert.property(doc.paths['/v1/gateway/traefik'].get.responses, '401');
  });
}, { env: ENV });
