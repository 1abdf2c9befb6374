/**
 * Every mutation leaves an audit row, successful or not, and so does every refused admin attempt. The
 * list of mutations comes from the OpenAPI document: a new mutating endpoint without a scenario here
 * fails the coverage check. Each refused attempt here is the first of its caller, operation and code, so it
 * has a row of its own; how repeats are coalesced is in refusal-audit.test.ts.
 */
import { assert } from 'chai';
import { forEachBackend, type Harness, type Reply } from '../testing/harness.js';

type Step = (h: Harness, ctx: Record<string, string>) => Promise<Reply>;

const KEY_HOLDER_SCOPES = ['models:read'];

/** One successful call per mutating operation, in an order that sets up what later ones need. */
const SCENARIO: readonly [operationId: string, step: Step][] = [
  ['createPlan', (h) => h.call('POST', '/v1/plans', { body: { name: 'audited', limits: [{ window: '1m', requests: 60 }] } })],
  ['updatePlan', (h) => h.call('PATCH', '/v1/plans/audited', { body: { description: 'changed' } })],
  ['createService', (h) => h.call('POST', '/v1/services', { body: { name: 'svc-a', upstream_url: 'http://127.0.0.1:1', match: { path_prefix: '/a' }, plan: 'audited' } })],
  ['updateService', (h) => h.call('PATCH', '/v1/services/svc-a', { body: { description: 'changed' } })],
  ['createIssuer', async (h, ctx) => remember(ctx, 'issuer', await h.call('POST', '/v1/issuers', { body: { issuer: 'https://idp.audit.example' } }))],
  ['updateIssuer', (h, ctx) => h.call('PATCH', `/v1/issuers/${ctx['issuer']}`, { body: { audiences: ['x'] } })],
  ['createConsumer', async (h, ctx) => remember(ctx, 'consumer', await h.call('POST', '/v1/consumers', { body: { name: 'Audited' } }))],
  ['updateConsumer', (h, ctx) => h.call('PATCH', `/v1/consumers/${ctx['consumer']}`, { body: { kind: 'service_account' } })],
  ['linkConsumerSubject', (h, ctx) => h.call('POST', `/v1/consumers/${ctx['consumer']}/subjects`, { body: { issuer: 'https://idp.audit.example', sub: 's' } })],
  ['unlinkConsumerSubject', (h, ctx) => h.call('DELETE', `/v1/consumers/${ctx['consumer']}/subjects?issuer=${encodeURIComponent('https://idp.audit.example')}&sub=s`)],
  [
    'createKey',
    async (h, ctx) => {
      const reply = await h.call('POST', '/v1/keys', { body: { consumer_id: ctx['consumer'], services: ['svc-a'], scopes: KEY_HOLDER_SCOPES } });
      ctx['secret'] = reply.body.key;
      return remember(ctx, 'key', reply);
    },
  ],
  ['updateKey', (h, ctx) => h.call('PATCH', `/v1/keys/${ctx['key']}`, { body: { name: 'renamed' } })],
  ['rotateKey', async (h, ctx) => {
    const reply = await h.call('POST', `/v1/keys/${ctx['key']}/rotate`, { body: { grace_seconds: 10 } });
    ctx['secret'] = reply.body.key;
    return reply;
  }],
  ['extendKey', async (h, ctx) => {
    await h.call('PATCH', `/v1/keys/${ctx['key']}`, { body: { expires_at: new Date(Date.now() + 3600_000).toISOString() } });
    return h.call('POST', `/v1/keys/${ctx['key']}/extend`, { body: { expires_at: new Date(Date.now() + 7200_000).toISOString() } });
  }],
  ['revokeKey', (h, ctx) => h.call('POST', `/v1/keys/${ctx['key']}/revoke`)],
  ['restoreKey', (h, ctx) => h.call('POST', `/v1/keys/${ctx['key']}/restore`)],
  ['ingestUsage', (h, ctx) => h.call('POST', '/v1/usage', { body: { batch_id: 'audit-1', entries: [{ consumer_id: ctx['consumer'], key_id: ctx['key'], day: '2026-01-01', requests: 1, last_used_at: '2026-01-01T00:00:00Z' }] } })],
  ['getOrCreateMyServiceKey', async (h, ctx) => {
    await h.call('POST', '/v1/services', { body: { name: 'svc-c', upstream_url: 'http://127.0.0.1:3', match: { path_prefix: '/c' } } });
    return h.call('POST', '/v1/me/services/svc-c/key', { token: ctx['secret']! });
  }],
  ['createMyKey', async (h, ctx) => remember(ctx, 'myKey', await h.call('POST', '/v1/me/keys', { token: ctx['secret']!, body: { services: ['svc-a'] } }))],
  ['updateMyKey', (h, ctx) => h.call('PATCH', `/v1/me/keys/${ctx['myKey']}`, { token: ctx['secret']!, body: { name: 'mine' } })],
  ['rotateMyKey', (h, ctx) => h.call('POST', `/v1/me/keys/${ctx['myKey']}/rotate`, { token: ctx['secret']!, body: {} })],
  ['revokeMyKey', (h, ctx) => h.call('POST', `/v1/me/keys/${ctx['myKey']}/revoke`, { token: ctx['secret']! })],
  ['deleteConsumer', async (h) => h.call('DELETE', `/v1/consumers/${(await h.call('POST', '/v1/consumers', { body: { name: 'doomed' } })).body.id}`)],
  ['deleteIssuer', (h, ctx) => h.call('DELETE', `/v1/issuers/${ctx['issuer']}`)],
  ['deleteService', async (h) => {
    await h.call('POST', '/v1/services', { body: { name: 'svc-b', upstream_url: 'http://127.0.0.1:2', match: { path_prefix: '/b' } } });
    return h.call('DELETE', '/v1/services/svc-b');
  }],
  ['deletePlan', async (h) => {
    await h.call('POST', '/v1/plans', { body: { name: 'doomed', limits: [] } });
    return h.call('DELETE', '/v1/plans/doomed');
  }],
];

function remember(ctx: Record<string, string>, name: string, reply: Reply): Reply {
  ctx[name] = reply.body.id;
  return reply;
}

async function auditRowsFor(h: Harness, requestId: string) {
  return h.cp.db('audit_log').where({ request_id: requestId }).select('*');
}

forEachBackend('audit', (harness) => {
  let mutations: { operationId: string; method: string; path: string }[] = [];
  const ctx: Record<string, string> = {};

  before(async () => {
    const doc = (await harness().call('GET', '/openapi.json', { token: null })).body;
    mutations = Object.entries(doc.paths as Record<string, Record<string, { operationId: string }>>).flatMap(([path, methods]) =>
      Object.entries(methods)
        .filter(([method]) => method !== 'get')
        .map(([method, op]) => ({ operationId: op.operationId, method: method.toUpperCase(), path })),
    );
  });

  it('has a scenario for every mutating operation', () => {
    assert.sameMembers(
      SCENARIO.map(([id]) => id),
      mutations.map((m) => m.operationId),
    );
  });

  it('writes a success row, in the same transaction, for every mutation', async () => {
    const h = harness();
    for (const [operationId, step] of SCENARIO) {
      const reply = await step(h, ctx);
      assert.oneOf(reply.status, [200, 201, 204], `${operationId}: ${reply.text}`);
      const rows = await auditRowsFor(h, reply.headers.get('x-request-id')!);
      const row = rows.find((r: { action: string }) => r.action === operationId);
      assert.exists(row, `${operationId} audited`);
      assert.include(row, { outcome: 'success', status: reply.status });
      assert.isString(row.actor_id);
      assert.equal(row.ip, '127.0.0.1');
    }
  });

  it('writes a denied row for every refused attempt at a mutation: no credential, a bad one, a non-admin one', async () => {
    const h = harness();
    const user = await h.call('POST', '/v1/keys', { body: { consumer_id: ctx['consumer'], services: [] } });
    for (const m of mutations) {
      const path = m.path.replace('{id}', 'whatever').replace('{service}', 'svc-a');
      for (const [label, token, expected] of [
        ['no credential', null, 401],
        ['forged key', 'pc_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 401],
        ['foreign token', 'not-a-key-or-a-jwt', 401],
        ['user key', user.body.key, path.startsWith('/v1/me') ? -1 : 403],
      ] as const) {
        if (expected === -1) continue;
        const reply = await h.call(m.method, path, { token, body: {} });
        assert.equal(reply.status, expected, `${m.operationId} with ${label}: ${reply.text}`);
        const rows = await auditRowsFor(h, reply.headers.get('x-request-id')!);
        assert.lengthOf(rows, 1, `${m.operationId} with ${label}`);
        assert.include(rows[0], { action: m.operationId, outcome: 'denied', status: expected, code: reply.body.code });
      }
    }
    const unauthenticated = await h.call('GET', `/v1/audit?outcome=denied&actor_id=anonymous&limit=200`);
    assert.isAtLeast(unauthenticated.body.items.length, mutations.length * 2);
  });

  it('writes a failed row for a mutation that is refused for its input', async () => {
    const h = harness();
    const reply = await h.call('POST', '/v1/keys', { body: { consumer_id: 'con_nope', services: [] } });
    assert.equal(reply.status, 400);
    const [row] = await auditRowsFor(h, reply.headers.get('x-request-id')!);
    assert.include(row, { action: 'createKey', outcome: 'failed', status: 400, code: 'validation_failed' });
  });

  it('is append-only, even for the database owner, and never holds a secret or a hash', async () => {
    const h = harness();
    let refused = false;
    try {
      await h.cp.db('audit_log').update({ action: 'tampered' });
    } catch (error) {
      refused = /append-only/.test(String(error));
    }
    assert.isTrue(refused, 'UPDATE refused');
    refused = false;
    try {
      await h.cp.db('audit_log').delete();
    } catch (error) {
      refused = /append-only/.test(String(error));
    }
    assert.isTrue(refused, 'DELETE refused');
    const audit = JSON.stringify(await h.cp.db('audit_log').select('*'));
    assert.notInclude(audit, ctx['secret']!);
    const hashes = (await h.cp.db('api_key_secrets').pluck('hash')) as string[];
    for (const hash of hashes) assert.notInclude(audit, hash);
  });

  it('reads back newest first with filters and a cursor', async () => {
    const h = harness();
    const page1 = await h.call('GET', `/v1/audit?resource_type=key&resource_id=${ctx['key']}&outcome=success&limit=2`);
    assert.equal(page1.status, 200, page1.text);
    assert.lengthOf(page1.body.items, 2);
    assert.isAbove(Number(page1.body.items[0].id), Number(page1.body.items[1].id));
    const page2 = await h.call('GET', `/v1/audit?resource_type=key&resource_id=${ctx['key']}&outcome=success&limit=2&cursor=${page1.body.next_cursor}`);
    assert.isBelow(Number(page2.body.items[0].id), Number(page1.body.items[1].id));
    const actions = [...page1.body.items, ...page2.body.items].map((e: { action: string }) => e.action);
    assert.includeMembers(['restoreKey', 'revokeKey', 'extendKey', 'updateKey'], actions);
  });
});
