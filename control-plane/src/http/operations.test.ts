/** Operational surface: health, readiness, metrics, OpenAPI and docs, headers, timeouts, logs. */
import { assert } from 'chai';
import pg from 'pg';
import { ADMIN_URL } from '../../../test/harness/postgres.js';
import { startHarness, type Harness } from '../testing/harness.js';

describe('control plane operations [postgres]', function () {
  this.timeout(120_000);
  let h: Harness;
  before(async () => {
    h = await startHarness('postgres', 'ops');
  });
  after(async () => {
    await h?.close();
  });

  it('answers /healthz and /readyz without credentials', async () => {
    assert.deepEqual((await h.call('GET', '/healthz', { token: null })).body, { status: 'ok' });
    const ready = await h.call('GET', '/readyz', { token: null });
    assert.equal(ready.status, 200);
    assert.equal(ready.body.checks.database, 'ok');
  });

  it('serves the OpenAPI 3.1 document generated from the validating schemas, and Swagger UI', async () => {
    const doc = (await h.call('GET', '/openapi.json', { token: null })).body;
    assert.equal(doc.openapi, '3.1.0');
    const createKey = doc.paths['/v1/keys'].post;
    assert.equal(createKey.operationId, 'createKey');
    assert.exists(createKey.responses['201'].content['application/json'].schema);
    assert.exists(createKey.responses['400'].content['application/problem+json'].schema);
    assert.deepEqual(createKey.security, [{ bearer: [] }]);
    assert.include(
      createKey.parameters.map((p: { name: string }) => p.name),
      'idempotency-key',
    );
    const keyCreate = doc.components.schemas.KeyCreate;
    assert.includeMembers(keyCreate.required, ['consumer_id', 'services']);
    assert.isFalse(keyCreate.additionalProperties, 'unknown fields are refused, and the document says so');
    for (const path of ['/v1/services', '/v1/plans', '/v1/consumers', '/v1/issuers', '/v1/keys/{id}/rotate', '/v1/keys/{id}/revoke', '/v1/me/services', '/v1/state', '/v1/usage', '/v1/audit']) {
      assert.property(doc.paths, path);
    }
    const docs = await h.call('GET', '/docs', { token: null });
    assert.equal(docs.status, 200);
    assert.include(docs.text, 'swagger-ui-bundle.js');
    const bundle = await fetch(`${h.baseUrl}/docs/swagger-ui-bundle.js`);
    assert.equal(bundle.status, 200);
    assert.include((await fetch(`${h.baseUrl}/docs/init.js`).then((r) => r.text())), '/openapi.json');
  });

  it('sets security headers and a request id, and keeps a caller-supplied request id', async () => {
    const reply = await h.call('GET', '/healthz', { token: null });
    assert.exists(reply.headers.get('content-security-policy'));
    assert.equal(reply.headers.get('x-content-type-options'), 'nosniff');
    assert.isNull(reply.headers.get('x-powered-by'));
    assert.match(reply.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
    const traced = await h.call('GET', '/v1/keys/key_nope', { headers: { 'x-request-id': 'trace-0123456789' } });
    assert.equal(traced.headers.get('x-request-id'), 'trace-0123456789');
    assert.equal(traced.body.instance, 'trace-0123456789');
  });

  it('answers unknown endpoints and credentials with problem+json', async () => {
    const missing = await h.call('GET', '/v2/nothing', { token: null });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.code, 'not_found');
    const noCredential = await h.call('GET', '/v1/keys', { token: null });
    assert.equal(noCredential.status, 401);
    assert.equal(noCredential.body.code, 'missing_credential');
    assert.match(noCredential.headers.get('www-authenticate')!, /^Bearer/);
    const badChecksum = await h.call('GET', '/v1/keys', { token: `${h.adminKey.slice(0, -1)}${h.adminKey.endsWith('A') ? 'B' : 'A'}` });
    assert.equal(badChecksum.body.code, 'malformed_api_key');
  });

  it('exports Prometheus metrics labelled by route template, never by id', async () => {
    await h.call('GET', '/v1/keys/key_0123456789');
    const metrics = await (await fetch(`${h.baseUrl}/metrics`)).text();
    assert.match(metrics, /portcullis_control_plane_http_requests_total\{method="GET",route="\/v1\/keys\/\{id\}",status="404"\} \d+/);
    assert.notInclude(metrics, 'key_0123456789');
    assert.include(metrics, 'portcullis_control_plane_process_cpu_seconds_total');
  });

  it('logs one line per request and never a credential or a secret', async () => {
    const created = await h.call('POST', '/v1/consumers', { body: { name: 'Logged' } });
    const key = await h.call('POST', '/v1/keys', { body: { consumer_id: created.body.id, services: [] } });
    await h.call('GET', '/v1/me', { token: key.body.key });
    await h.call('GET', '/v1/me', { headers: { 'x-api-key': key.body.key }, token: null });
    const logs = h.logs.text;
    assert.include(logs, key.headers.get('x-request-id')!);
    assert.include(logs, '"route":"/v1/keys"');
    assert.notInclude(logs, h.adminKey);
    assert.notInclude(logs, key.body.key);
    assert.notInclude(logs, h.config.keyPepper!.reveal());
    assert.notInclude(logs, 'authorization');
  });

  it('answers 503 timeout when a request runs too long', async () => {
    const slow = await startHarness('postgres', 'slow', {
      requestTimeoutMs: 300,
      keyHooks: { duringKeyCreate: () => new Promise((resolve) => setTimeout(resolve, 1500)) },
    });
    try {
      const consumer = await slow.call('POST', '/v1/consumers', { body: { name: 'Slow' } });
      const reply = await slow.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: [] } });
      assert.equal(reply.status, 503);
      assert.equal(reply.body.code, 'timeout');
    } finally {
      await slow.close();
    }
  });

  it('reports the database being unavailable as 503, on readiness and on requests, and recovers', async () => {
    const admin = new pg.Client({ connectionString: ADMIN_URL });
    await admin.connect();
    const name = new URL(h.config.database.kind === 'postgres' ? h.config.database.url.reveal() : '').pathname.slice(1);
    try {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
      const ready = await h.call('GET', '/readyz', { token: null });
      assert.equal(ready.status, 503);
      const reply = await h.call('GET', '/v1/plans');
      assert.equal(reply.status, 503, reply.text);
      assert.equal(reply.body.code, 'dependency_unavailable');
    } finally {
      await admin.query(`ALTER DATABASE "${name}" ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    assert.equal((await h.call('GET', '/v1/plans')).status, 200);
  });
});
