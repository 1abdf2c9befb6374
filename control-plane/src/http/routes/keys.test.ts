import { assert } from 'chai';
import { inspectApiKey } from '../../../../authz-service/src/credentials/api-key/format.js';
import { forEachBackend, type Harness } from '../../testing/harness.js';
import { dumpDatabase, judgeKey } from '../../testing/verify.js';

const HOUR = 3600_000;

async function seed(h: Harness): Promise<{ consumerId: string }> {
  assert.equal((await h.call('POST', '/v1/plans', { body: { name: 'basic', limits: [{ window: '1s', requests: 10 }, { window: '1d', requests: 1000 }] } })).status, 201);
  const service = await h.call('POST', '/v1/services', {
    body: { name: 'llm', upstream_url: 'http://127.0.0.1:9001', match: { path_prefix: '/llm' }, credentials: ['api_key', 'jwt'], plan: 'basic' },
  });
  assert.equal(service.status, 201, service.text);
  assert.equal((await h.call('POST', '/v1/services', { body: { name: 'vision', upstream_url: 'http://127.0.0.1:9002', match: { path_prefix: '/vision' }, credentials: ['api_key'] } })).status, 201);
  const consumer = await h.call('POST', '/v1/consumers', { body: { name: 'Alice' } });
  assert.equal(consumer.status, 201, consumer.text);
  return { consumerId: consumer.body.id };
}

forEachBackend('key lifecycle', (harness) => {
  let consumerId = '';
  before(async () => {
    ({ consumerId } = await seed(harness()));
  });

  it('creates a key whose secret is shown once, stored only as its HMAC, and resolves through the state document', async () => {
    const h = harness();
    const created = await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'], scopes: ['models:read'], name: 'laptop' } });
    assert.equal(created.status, 201, created.text);
    const secret: string = created.body.key;
    assert.equal(inspectApiKey(secret).kind, 'valid');
    assert.isTrue(secret.startsWith(created.body.prefix));
    assert.deepEqual(created.body.services, ['llm']);

    const stored = (await h.cp.db('api_key_secrets').where({ key_id: created.body.id }).pluck('hash')) as string[];
    assert.deepEqual(stored, [h.cp.hasher.hash(secret)]);
    const dump = await dumpDatabase(h);
    assert.notInclude(dump, secret);
    assert.notInclude(dump, secret.slice(3), 'not even the random part');

    const fetched = await h.call('GET', `/v1/keys/${created.body.id}`);
    assert.equal(fetched.status, 200);
    assert.notProperty(fetched.body, 'key');
    assert.notInclude(fetched.text, secret);
    const listed = await h.call('GET', `/v1/keys?consumer_id=${consumerId}`);
    assert.notInclude(listed.text, secret);
    assert.include(
      listed.body.items.map((k: { id: string }) => k.id),
      created.body.id,
    );

    assert.equal(await judgeKey(h, secret, h.clock.now(), 'llm'), 'resolved');
    // the control plane authenticates it with the same resolver, against the database
    const me = await h.call('GET', '/v1/me', { token: secret });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.consumer.id, consumerId);
  });

  it('rotates: both secrets work inside the grace period, only the new one after, and the key identity stays', async () => {
    const h = harness();
    const created = (await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'] } })).body;
    const t0 = h.clock.now();
    const rotated = await h.call('POST', `/v1/keys/${created.id}/rotate`, { body: { grace_seconds: 60 } });
    assert.equal(rotated.status, 200, rotated.text);
    assert.equal(rotated.body.id, created.id);
    assert.notEqual(rotated.body.key, created.key);
    assert.lengthOf(rotated.body.secrets, 2);

    assert.equal(await judgeKey(h, created.key, t0 + 1000, 'llm'), 'resolved');
    assert.equal(await judgeKey(h, rotated.body.key, t0 + 1000, 'llm'), 'resolved');
    assert.equal(await judgeKey(h, created.key, t0 + 61_000, 'llm'), 'api_key_expired');
    assert.equal(await judgeKey(h, rotated.body.key, t0 + 61_000, 'llm'), 'resolved');

    const stored = (await h.cp.db('api_key_secrets').where({ key_id: created.id }).pluck('hash')) as string[];
    assert.sameMembers(stored, [h.cp.hasher.hash(created.key), h.cp.hasher.hash(rotated.body.key)]);
    assert.notInclude(await dumpDatabase(h), rotated.body.key);

    // the control plane's own authentication honours the same grace period
    assert.equal((await h.call('GET', '/v1/me', { token: created.key })).status, 200);
    h.clock.advance(61_000);
    const old = await h.call('GET', '/v1/me', { token: created.key });
    assert.equal(old.status, 401);
    assert.equal(old.body.code, 'api_key_expired');
    assert.equal((await h.call('GET', '/v1/me', { token: rotated.body.key })).status, 200);
    // the dead secret is no longer in the state document at all
    const state = (await h.call('GET', '/v1/state')).body;
    const exported = state.keys.find((k: { id: string }) => k.id === created.id);
    assert.lengthOf(exported.secrets, 1);
  });

  it('rotating with grace 0 ends the old secret at once', async () => {
    const h = harness();
    const created = (await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'] } })).body;
    const rotated = (await h.call('POST', `/v1/keys/${created.id}/rotate`, { body: { grace_seconds: 0 } })).body;
    const now = h.clock.now() + 1;
    // ended secrets leave the state document, so the data plane no longer knows the old one at all
    assert.oneOf(await judgeKey(h, created.key, now, 'llm'), ['api_key_expired', 'unknown_api_key']);
    assert.equal(await judgeKey(h, rotated.key, now, 'llm'), 'resolved');
    assert.equal((await h.call('GET', '/v1/me', { token: created.key })).status, 401);
  });

  it('revokes: every secret of the key stops working, and restore brings it back', async () => {
    const h = harness();
    const created = (await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'] } })).body;
    const rotated = (await h.call('POST', `/v1/keys/${created.id}/rotate`, { body: { grace_seconds: 3600 } })).body;
    const revoked = await h.call('POST', `/v1/keys/${created.id}/revoke`, { body: { reason: 'leaked in a notebook' } });
    assert.equal(revoked.status, 200, revoked.text);
    assert.equal(revoked.body.status, 'revoked');
    for (const secret of [created.key, rotated.key]) {
      assert.equal(await judgeKey(h, secret, h.clock.now(), 'llm'), 'api_key_revoked');
      const me = await h.call('GET', '/v1/me', { token: secret });
      assert.equal(me.status, 401);
      assert.equal(me.body.code, 'api_key_revoked');
    }
    const rotateRevoked = await h.call('POST', `/v1/keys/${created.id}/rotate`, { body: {} });
    assert.equal(rotateRevoked.status, 409);
    assert.equal((await h.call('POST', `/v1/keys/${created.id}/restore`)).status, 200);
    assert.equal(await judgeKey(h, rotated.key, h.clock.now(), 'llm'), 'resolved');
  });

  it('honours expiry, and extending it makes the key work again', async () => {
    const h = harness();
    const expiresAt = new Date(h.clock.now() + HOUR).toISOString();
    const created = (await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'], expires_at: expiresAt } })).body;
    assert.equal(created.expires_at, expiresAt);
    assert.equal(await judgeKey(h, created.key, h.clock.now(), 'llm'), 'resolved');
    assert.equal(await judgeKey(h, created.key, Date.parse(expiresAt) + 1, 'llm'), 'api_key_expired');

    h.clock.advance(HOUR + 1000);
    assert.equal((await h.call('GET', `/v1/keys/${created.id}`)).body.status, 'expired');
    assert.equal((await h.call('GET', '/v1/me', { token: created.key })).body.code, 'api_key_expired');
    const expiredList = await h.call('GET', `/v1/keys?consumer_id=${consumerId}&status=expired`);
    assert.include(
      expiredList.body.items.map((k: { id: string }) => k.id),
      created.id,
    );

    const later = new Date(h.clock.now() + 2 * HOUR).toISOString();
    const extended = await h.call('POST', `/v1/keys/${created.id}/extend`, { body: { expires_at: later } });
    assert.equal(extended.status, 200, extended.text);
    assert.equal(extended.body.status, 'active');
    assert.equal((await h.call('GET', '/v1/me', { token: created.key })).status, 200);
    // extending backwards is not an extension
    const backwards = await h.call('POST', `/v1/keys/${created.id}/extend`, { body: { expires_at: new Date(h.clock.now() + 60_000).toISOString() } });
    assert.equal(backwards.status, 400);
    // a past expiry is refused on create
    const past = await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'], expires_at: new Date(h.clock.now() - 1000).toISOString() } });
    assert.equal(past.status, 400);
    assert.equal(past.body.errors[0].path, 'body.expires_at');
  });

  it('updates name, scopes, services, limits and expiry, and the state document follows', async () => {
    const h = harness();
    const created = (await h.call('POST', '/v1/keys', { body: { consumer_id: consumerId, services: ['llm'], name: 'a' } })).body;
    const patched = await h.call('PATCH', `/v1/keys/${created.id}`, {
      body: { name: 'b', scopes: ['x:read'], services: ['llm', 'vision'], limits: [{ window: '1m', requests: 5 }], plan: 'basic' },
    });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.name, 'b');
    assert.deepEqual(patched.body.services, ['llm', 'vision']);
    const exported = (await h.call('GET', '/v1/state')).body.keys.find((k: { id: string }) => k.id === created.id);
    assert.deepEqual(exported.scopes, ['x:read']);
    assert.deepEqual(exported.services, ['llm', 'vision']);
    assert.deepEqual(exported.limits, [{ window: '1m', requests: 5 }]);
    assert.equal(exported.plan, 'basic');
    assert.equal(await judgeKey(h, created.key, h.clock.now(), 'vision'), 'resolved');

    // absent fields stay; null clears
    const cleared = await h.call('PATCH', `/v1/keys/${created.id}`, { body: { name: null, plan: null } });
    assert.notProperty(cleared.body, 'name');
    assert.notProperty(cleared.body, 'plan');
    assert.deepEqual(cleared.body.scopes, ['x:read']);
  });

  it('a retried create with the same Idempotency-Key returns the same response and mints no second key', async () => {
    const h = harness();
    const consumer = (await h.call('POST', '/v1/consumers', { body: { name: 'Idem' } })).body;
    const body = { consumer_id: consumer.id, services: ['llm'] };
    const headers = { 'idempotency-key': 'create-1' };
    const first = await h.call('POST', '/v1/keys', { body, headers });
    const second = await h.call('POST', '/v1/keys', { body, headers });
    assert.equal(first.status, 201);
    assert.equal(second.status, 201);
    assert.deepEqual(second.body, first.body);
    assert.equal(second.headers.get('idempotent-replayed'), 'true');
    // concurrent retries too
    const burst = await Promise.all(Array.from({ length: 5 }, () => h.call('POST', '/v1/keys', { body, headers: { 'idempotency-key': 'create-2' } })));
    assert.sameMembers([...new Set(burst.map((r) => r.status))], [201]);
    assert.lengthOf(new Set(burst.map((r) => r.body.id)), 1);
    assert.equal((await h.cp.db('api_keys').where({ consumer_id: consumer.id }).count({ n: '*' }).first())!.n, 2);
    // the stored response is sealed: the secret it carries is not in the database
    assert.notInclude(await dumpDatabase(h), first.body.key);
    // the same key for a different request is an error, not a replay
    const other = await h.call('POST', '/v1/keys', { body: { ...body, name: 'different' }, headers });
    assert.equal(other.status, 422);
    assert.equal(other.body.code, 'idempotency_conflict');
    // a retried rotation rotates once
    const rotatedTwice = [
      await h.call('POST', `/v1/keys/${first.body.id}/rotate`, { body: {}, headers: { 'idempotency-key': 'rot-1' } }),
      await h.call('POST', `/v1/keys/${first.body.id}/rotate`, { body: {}, headers: { 'idempotency-key': 'rot-1' } }),
    ];
    assert.equal(rotatedTwice[0]!.body.key, rotatedTwice[1]!.body.key);
    const current = (await h.cp.db('api_key_secrets').where({ key_id: first.body.id }).whereNull('not_after').pluck('hash')) as string[];
    assert.deepEqual(current, [h.cp.hasher.hash(rotatedTwice[0]!.body.key)], 'one rotation, not two');
  });

  it('pages through keys with a cursor and filters by service and status', async () => {
    const h = harness();
    const consumer = (await h.call('POST', '/v1/consumers', { body: { name: 'Pager' } })).body;
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.id, services: [i % 2 ? 'vision' : 'llm'] } })).body.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { body: { items: { id: string }[]; next_cursor: string | null } } = await h.call('GET', `/v1/keys?consumer_id=${consumer.id}&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
      assert.isAtMost(page.body.items.length, 2);
      seen.push(...page.body.items.map((k) => k.id));
      cursor = page.body.next_cursor;
    } while (cursor);
    assert.deepEqual(seen, ids);
    const vision = await h.call('GET', `/v1/keys?consumer_id=${consumer.id}&service=vision`);
    assert.deepEqual(
      vision.body.items.map((k: { id: string }) => k.id),
      [ids[1], ids[3]],
    );
    await h.call('POST', `/v1/keys/${ids[0]}/revoke`);
    const active = await h.call('GET', `/v1/keys?consumer_id=${consumer.id}&status=active`);
    assert.notInclude(
      active.body.items.map((k: { id: string }) => k.id),
      ids[0],
    );
    assert.equal((await h.call('GET', '/v1/keys?cursor=not-a-cursor')).status, 400);
  });
});
