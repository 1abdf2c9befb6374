/**
 * Bad input on every endpoint, enumerated from the served OpenAPI document so a new endpoint is covered
 * the day it is added: wrong types, unknown fields, malformed and huge bodies, hostile strings. Every
 * answer must be a clean problem+json with a stable code and the request id, and nothing may be stored.
 */
import { assert } from 'chai';
import { forEachBackend, type Harness, type Reply } from '../testing/harness.js';
import { dumpDatabase } from '../testing/verify.js';

interface Operation {
  readonly method: string;
  readonly path: string;
  readonly operationId: string;
  readonly bodySchema?: JsonSchema;
  readonly queryParams: readonly string[];
}

interface JsonSchema {
  readonly $ref?: string;
  readonly type?: string | readonly string[];
  readonly properties?: Record<string, JsonSchema>;
  readonly anyOf?: readonly JsonSchema[];
}

type Doc = { paths: Record<string, Record<string, any>>; components: { schemas: Record<string, JsonSchema> } };

function operations(doc: Doc): Operation[] {
  return Object.entries(doc.paths).flatMap(([path, methods]) =>
    Object.entries(methods).map(([method, op]) => ({
      method: method.toUpperCase(),
      path,
      operationId: op.operationId,
      ...(op.requestBody ? { bodySchema: op.requestBody.content['application/json'].schema } : {}),
      queryParams: (op.parameters ?? []).filter((p: { in: string }) => p.in === 'query').map((p: { name: string }) => p.name),
    })),
  );
}

function resolve(doc: Doc, schema: JsonSchema): JsonSchema {
  return schema.$ref ? resolve(doc, doc.components.schemas[schema.$ref.split('/').pop()!]!) : schema;
}

/** A JSON value of a type the schema does not allow. */
function wrongValue(doc: Doc, schema: JsonSchema): unknown {
  const s = resolve(doc, schema);
  const types = new Set([s.type ?? [], ...(s.anyOf ?? []).map((a) => resolve(doc, a).type ?? [])].flat());
  if (types.has('object')) return 12345;
  if (types.has('string') || types.has('number') || types.has('integer') || types.has('boolean') || types.has('array')) return { not: 'this' };
  return undefined;
}

/** Resource ids that exist, so requests get as far as they can before validation stops them. */
interface Fixture {
  readonly plan: string;
  readonly service: string;
  readonly consumer: string;
  readonly issuer: string;
  readonly key: string;
}

function concretePath(path: string, f: Fixture): string {
  const id = path.startsWith('/v1/plans')
    ? f.plan
    : path.startsWith('/v1/services')
      ? f.service
      : path.startsWith('/v1/consumers')
        ? f.consumer
        : path.startsWith('/v1/issuers')
          ? f.issuer
          : f.key;
  return path.replace('{id}', id).replace('{service}', f.service);
}

/** Everything except the audit log (which records the failed attempts) and idempotency bookkeeping. */
async function storedState(h: Harness): Promise<string> {
  const dump = JSON.parse(await dumpDatabase(h)) as Record<string, unknown>;
  delete dump['audit_log'];
  return JSON.stringify(dump);
}

function assertProblem(reply: Reply, status: number | readonly number[], what: string): void {
  const statuses = typeof status === 'number' ? [status] : status;
  assert.include(statuses, reply.status, `${what}: ${reply.status} ${reply.text.slice(0, 300)}`);
  assert.equal(reply.headers.get('content-type')?.split(';')[0], 'application/problem+json', what);
  assert.isString(reply.body.code, what);
  assert.equal(reply.body.status, reply.status, what);
  assert.equal(reply.body.instance, reply.headers.get('x-request-id'), `${what}: request id`);
  assert.notMatch(reply.text, /\bat .*\.(ts|js):\d+/, `${what}: no stack trace`);
}

forEachBackend('bad input on every endpoint', (harness) => {
  let doc: Doc;
  let fixture: Fixture;
  let baseline: string;

  before(async () => {
    const h = harness();
    doc = (await h.call('GET', '/openapi.json', { token: null })).body;
    const plan = await h.call('POST', '/v1/plans', { body: { name: 'p1', limits: [{ window: '1m', requests: 5 }] } });
    const service = await h.call('POST', '/v1/services', { body: { name: 's1', upstream_url: 'http://127.0.0.1:1', match: { path_prefix: '/s1' } } });
    const consumer = await h.call('POST', '/v1/consumers', { body: { name: 'c1' } });
    const issuer = await h.call('POST', '/v1/issuers', { body: { issuer: 'https://idp.example' } });
    // the admin's own key, so /v1/me/keys/{id} routes reach their validation too
    const me = await h.call('GET', '/v1/me');
    fixture = { plan: plan.body.id, service: service.body.name, consumer: consumer.body.id, issuer: issuer.body.id, key: me.body.actor.key_id };
    for (const r of [plan, service, consumer, issuer]) assert.oneOf(r.status, [201], r.text);
    baseline = await storedState(h);
  });

  it('has a good number of operations to check', () => {
    assert.isAtLeast(operations(doc).length, 35);
  });

  it('refuses bodies of the wrong shape, unknown fields and wrong field types, field by field', async () => {
    const h = harness();
    let checked = 0;
    for (const op of operations(doc).filter((o) => o.bodySchema)) {
      const path = concretePath(op.path, fixture);
      const what = `${op.method} ${op.path}`;
      assertProblem(await h.call(op.method, path, { body: [] }), 400, `${what} array body`);
      assertProblem(await h.call(op.method, path, { body: 'just a string' }), 400, `${what} string body`);
      assertProblem(await h.call(op.method, path, { body: 42 }), 400, `${what} number body`);
      const unknown = await h.call(op.method, path, { body: { definitely_not_a_field: 1 } });
      assertProblem(unknown, 400, `${what} unknown field`);
      assert.include(
        unknown.body.errors.map((e: { path: string }) => e.path),
        'body.definitely_not_a_field',
        what,
      );
      const schema = resolve(doc, op.bodySchema!);
      for (const [field, fieldSchema] of Object.entries(schema.properties ?? {})) {
        const bad = wrongValue(doc, fieldSchema);
        if (bad === undefined) continue;
        const reply = await h.call(op.method, path, { body: { [field]: bad } });
        assertProblem(reply, 400, `${what} ${field}: wrong type`);
        assert.include(
          reply.body.errors.map((e: { path: string }) => e.path.split(/[.[]/).slice(0, 2).join('.')),
          `body.${field}`,
          `${what} ${field}: names the field`,
        );
        checked++;
      }
    }
    assert.isAtLeast(checked, 60);
  });

  it('refuses malformed, huge, deeply nested and non-JSON bodies', async () => {
    const h = harness();
    for (const op of operations(doc).filter((o) => o.bodySchema)) {
      const path = concretePath(op.path, fixture);
      const what = `${op.method} ${op.path}`;
      assertProblem(await h.call(op.method, path, { rawBody: '{"name": ' }), 400, `${what} truncated JSON`);
      assertProblem(await h.call(op.method, path, { rawBody: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, `${what} form body`);
      assertProblem(await h.call(op.method, path, { rawBody: '{}', headers: { 'content-type': 'text/plain' } }), 415, `${what} text body`);
      const huge = JSON.stringify({ name: 'x'.repeat(2 * 1024 * 1024) });
      assertProblem(await h.call(op.method, path, { rawBody: huge }), 413, `${what} 2 MiB body`);
      const deep = '['.repeat(5000) + ']'.repeat(5000);
      assertProblem(await h.call(op.method, path, { rawBody: `{"name": ${deep}}` }), 400, `${what} deep nesting`);
    }
  });

  it('refuses NUL characters and lone surrogates anywhere in a body, a query or a path', async () => {
    const h = harness();
    for (const op of operations(doc).filter((o) => o.bodySchema)) {
      const path = concretePath(op.path, fixture);
      const what = `${op.method} ${op.path}`;
      assertProblem(await h.call(op.method, path, { rawBody: '{"name": "a\\u0000b"}' }), 400, `${what} NUL`);
      assertProblem(await h.call(op.method, path, { rawBody: '{"name": "\\ud800"}' }), 400, `${what} lone surrogate`);
      assertProblem(await h.call(op.method, path, { rawBody: '{"na\\u0000me": 1}' }), 400, `${what} NUL in a field name`);
    }
    assertProblem(await h.call('GET', '/v1/consumers?q=a%00b'), 400, 'NUL in a query');
    assertProblem(await h.call('GET', '/v1/keys/key_%00'), 400, 'NUL in a path');
  });

  it('refuses wrong query types and unknown filters on every list', async () => {
    const h = harness();
    for (const op of operations(doc).filter((o) => o.method === 'GET' && o.queryParams.includes('limit'))) {
      const path = concretePath(op.path, fixture);
      assertProblem(await h.call('GET', `${path}?limit=abc`), 400, `${op.path} limit=abc`);
      assertProblem(await h.call('GET', `${path}?limit=100000`), 400, `${op.path} limit too large`);
      assertProblem(await h.call('GET', `${path}?limit=1&limit=2`), 400, `${op.path} repeated limit`);
      assertProblem(await h.call('GET', `${path}?cursor=${encodeURIComponent("' OR 1=1 --")}`), 400, `${op.path} forged cursor`);
      assertProblem(await h.call('GET', `${path}?no_such_filter=1`), 400, `${op.path} unknown filter`);
    }
  });

  it('treats SQL-looking strings as plain data', async () => {
    const h = harness();
    const injection = "Robert'); DROP TABLE api_keys; --";
    assertProblem(await h.call('GET', `/v1/keys/${encodeURIComponent("' OR '1'='1")}`), 400, 'quote in an id');
    assertProblem(await h.call('POST', '/v1/plans', { body: { name: injection } }), 400, 'injection as a slug');
    const listed = await h.call('GET', `/v1/consumers?q=${encodeURIComponent("%' OR 1=1 --")}`);
    assert.equal(listed.status, 200);
    assert.lengthOf(listed.body.items, 0, 'LIKE wildcards and quotes match literally');
    assert.equal((await h.call('GET', `/v1/audit?resource_id=${encodeURIComponent(injection)}`)).status, 200);
    assert.equal((await h.call('GET', `/v1/me/services/${encodeURIComponent(injection)}/key`)).status, 404, 'no GET there');
    assert.equal(await storedState(h), baseline, 'nothing stored by any bad request so far');

    // free text takes anything printable, stored and returned byte for byte
    const name = `${injection} Zoë 🚀 中文 \u202e`;
    const created = await h.call('POST', '/v1/consumers', { body: { name } });
    assert.equal(created.status, 201, created.text);
    assert.equal((await h.call('GET', `/v1/consumers/${created.body.id}`)).body.name, name);
    assert.isAbove(Number((await h.cp.db('api_keys').count({ n: '*' }).first())!.n), 0, 'api_keys still there');
  });
});
