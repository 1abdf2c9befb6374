import { assert } from 'chai';
import { forEachBackend, type Harness } from '../../testing/harness.js';
import { judgeKey } from '../../testing/verify.js';

interface User {
  consumerId: string;
  /** The key this user authenticates with. */
  login: string;
  loginId: string;
}

async function user(h: Harness, name: string, scopes: string[] = []): Promise<User> {
  const consumer = await h.call('POST', '/v1/consumers', { body: { name } });
  const key = await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: ['llm'], scopes } });
  assert.equal(key.status, 201, key.text);
  return { consumerId: consumer.body.id, login: key.body.key, loginId: key.body.id };
}

const today = () => new Date().toISOString().slice(0, 10);

forEachBackend('self-service and isolation', (harness) => {
  let alice: User;
  let bob: User;
  let bobKey: { id: string; key: string };

  before(async () => {
    const h = harness();
    const service = (name: string, extra: object = {}) =>
      h.call('POST', '/v1/services', { body: { name, upstream_url: `http://127.0.0.1:9000/${name}`, match: { path_prefix: `/${name}` }, ...extra } });
    assert.equal((await service('llm', { display_name: 'Large language model', credentials: ['api_key', 'jwt'] })).status, 201);
    assert.equal((await service('vision', { credentials: ['api_key'] })).status, 201);
    assert.equal((await service('internal', { self_service: false })).status, 201);
    assert.equal((await service('sso-only', { credentials: ['jwt'] })).status, 201);
    alice = await user(h, 'Alice', ['models:read']);
    bob = await user(h, 'Bob');
    const created = await h.call('POST', '/v1/me/keys', { token: bob.login, body: { services: ['vision'], name: 'bob-vision' } });
    assert.equal(created.status, 201, created.text);
    bobKey = { id: created.body.id, key: created.body.key };
  });

  it('tells users who they are', async () => {
    const h = harness();
    const me = await h.call('GET', '/v1/me', { token: alice.login });
    assert.equal(me.status, 200, me.text);
    assert.equal(me.body.consumer.id, alice.consumerId);
    assert.equal(me.body.actor.kind, 'api_key');
    assert.equal(me.body.actor.admin, false);
  });

  it('lists the self-service services with whether the user holds a key for each (MLaaS /api/services)', async () => {
    const h = harness();
    const services = await h.call('GET', '/v1/me/services', { token: alice.login });
    assert.equal(services.status, 200, services.text);
    const byName = Object.fromEntries(services.body.items.map((s: { name: string }) => [s.name, s]));
    assert.sameMembers(Object.keys(byName), ['llm', 'vision', 'sso-only'], 'not the internal one');
    assert.include(byName['llm'], { has_key: true, display_name: 'Large language model', api_keys: true });
    assert.equal(byName['llm'].key.id, alice.loginId);
    assert.include(byName['vision'], { has_key: false });
    assert.include(byName['sso-only'], { has_key: false, api_keys: false });
  });

  it('gets-or-creates the key for a service in one call; the secret only when it creates (MLaaS /api/services/init)', async () => {
    const h = harness();
    const first = await h.call('POST', '/v1/me/services/vision/key', { token: alice.login });
    assert.equal(first.status, 201, first.text);
    assert.isTrue(first.body.created);
    assert.match(first.body.key.key, /^pc_/);
    assert.deepEqual(first.body.key.services, ['vision']);
    assert.equal(first.body.key.consumer_id, alice.consumerId);
    assert.equal(await judgeKey(h, first.body.key.key, h.clock.now(), 'vision'), 'resolved');

    const again = await h.call('POST', '/v1/me/services/vision/key', { token: alice.login });
    assert.equal(again.status, 200);
    assert.isFalse(again.body.created);
    assert.equal(again.body.key.id, first.body.key.id);
    assert.notProperty(again.body.key, 'key');
    assert.notInclude(again.text, first.body.key.key);
    const vision = (await h.call('GET', '/v1/me/services', { token: alice.login })).body.items.find((s: { name: string }) => s.name === 'vision');
    assert.isTrue(vision.has_key);

    // concurrent first calls create one key, not two
    const carol = await user(h, 'Carol');
    const burst = await Promise.all(Array.from({ length: 4 }, () => h.call('POST', '/v1/me/services/vision/key', { token: carol.login })));
    assert.lengthOf(new Set(burst.map((r) => r.body.key.id)), 1);
    assert.lengthOf(
      burst.filter((r) => r.body.created),
      1,
    );

    assert.equal((await h.call('POST', '/v1/me/services/internal/key', { token: alice.login })).status, 404, 'not self-service');
    assert.equal((await h.call('POST', '/v1/me/services/nope/key', { token: alice.login })).status, 404);
    assert.equal((await h.call('POST', '/v1/me/services/sso-only/key', { token: alice.login })).status, 409, 'takes no API keys');
  });

  it('lets users create keys only with scopes they hold, never the admin scope', async () => {
    const h = harness();
    const admin = await h.call('POST', '/v1/me/keys', { token: alice.login, body: { services: ['llm'], scopes: ['portcullis:admin'] } });
    assert.equal(admin.status, 400);
    assert.equal(admin.body.errors[0].path, 'body.scopes[0]');
    assert.equal((await h.call('POST', '/v1/me/keys', { token: alice.login, body: { services: ['llm'], scopes: ['models:write'] } })).status, 400);
    assert.equal((await h.call('POST', '/v1/me/keys', { token: alice.login, body: { services: ['internal'] } })).status, 400);
    assert.equal((await h.call('POST', '/v1/me/keys', { token: alice.login, body: { services: ['llm'], plan: 'x' } })).status, 400, 'no plans for users');
    const ok = await h.call('POST', '/v1/me/keys', { token: alice.login, body: { services: ['llm'], scopes: ['models:read'] } });
    assert.equal(ok.status, 201, ok.text);
    assert.deepEqual(ok.body.scopes, ['models:read']);
  });

  it('keeps users out of admin endpoints (403) and records the attempt', async () => {
    const h = harness();
    for (const [method, path, body] of [
      ['GET', '/v1/keys', undefined],
      ['POST', '/v1/keys', { consumer_id: alice.consumerId, services: [], scopes: ['portcullis:admin'] }],
      ['GET', `/v1/keys/${bobKey.id}`, undefined],
      ['GET', '/v1/state', undefined],
      ['POST', '/v1/usage', { batch_id: 'x', entries: [] }],
    ] as const) {
      const reply = await h.call(method, path, { token: alice.login, ...(body ? { body } : {}) });
      assert.equal(reply.status, 403, `${method} ${path}`);
      assert.equal(reply.body.code, 'forbidden');
    }
    const denied = await h.call('GET', `/v1/audit?actor_id=${encodeURIComponent(`key:${alice.loginId}`)}&outcome=denied`);
    assert.isAtLeast(denied.body.items.length, 5);
    assert.include(
      denied.body.items.map((e: { action: string }) => e.action),
      'createKey',
    );
  });

  it("never shows, rotates, revokes or reports usage of another user's key: 404, as if it did not exist", async () => {
    const h = harness();
    const missing = await h.call('GET', '/v1/me/keys/key_doesnotexist', { token: alice.login });
    assert.equal(missing.status, 404);
    const attempts = [
      ['GET', `/v1/me/keys/${bobKey.id}`, undefined],
      ['PATCH', `/v1/me/keys/${bobKey.id}`, { name: 'mine now' }],
      ['POST', `/v1/me/keys/${bobKey.id}/rotate`, { grace_seconds: 0 }],
      ['POST', `/v1/me/keys/${bobKey.id}/revoke`, {}],
      ['GET', `/v1/me/keys/${bobKey.id}/usage`, undefined],
    ] as const;
    for (const [method, path, body] of attempts) {
      const reply = await h.call(method, path, { token: alice.login, ...(body ? { body } : {}) });
      assert.equal(reply.status, 404, `${method} ${path}: ${reply.text}`);
      assert.equal(reply.body.code, 'not_found');
      assert.notInclude(reply.text, 'bob-vision');
    }
    const aliceKeys = await h.call('GET', '/v1/me/keys?limit=200', { token: alice.login });
    assert.notInclude(
      aliceKeys.body.items.map((k: { id: string }) => k.id),
      bobKey.id,
    );
    assert.isTrue(aliceKeys.body.items.every((k: { consumer_id: string }) => k.consumer_id === alice.consumerId));
    // Bob's key is untouched and still works
    const bobs = await h.call('GET', `/v1/me/keys/${bobKey.id}`, { token: bob.login });
    assert.equal(bobs.body.name, 'bob-vision');
    assert.equal(bobs.body.status, 'active');
    assert.equal(await judgeKey(h, bobKey.key, h.clock.now(), 'vision'), 'resolved');
  });

  it('lets users rotate and revoke their own keys', async () => {
    const h = harness();
    const mine = (await h.call('POST', '/v1/me/keys', { token: bob.login, body: { services: ['llm'] } })).body;
    const rotated = await h.call('POST', `/v1/me/keys/${mine.id}/rotate`, { token: bob.login, body: { grace_seconds: 30 } });
    assert.equal(rotated.status, 200, rotated.text);
    assert.notEqual(rotated.body.key, mine.key);
    const renamed = await h.call('PATCH', `/v1/me/keys/${mine.id}`, { token: bob.login, body: { name: 'renamed' } });
    assert.equal(renamed.body.name, 'renamed');
    assert.equal((await h.call('PATCH', `/v1/me/keys/${mine.id}`, { token: bob.login, body: { scopes: ['portcullis:admin'] } })).status, 400, 'users may only rename');
    const revoked = await h.call('POST', `/v1/me/keys/${mine.id}/revoke`, { token: bob.login });
    assert.equal(revoked.body.status, 'revoked');
    assert.equal(await judgeKey(h, rotated.body.key, h.clock.now(), 'llm'), 'api_key_revoked');
  });

  it('counts usage per key and per consumer, once per batch, and users see only their own', async () => {
    const h = harness();
    const now = new Date().toISOString();
    const batch = {
      batch_id: 'dp-1:0001',
      entries: [
        { consumer_id: alice.consumerId, key_id: alice.loginId, day: today(), requests: 7, last_used_at: now },
        { consumer_id: alice.consumerId, day: today(), requests: 3, last_used_at: now },
        { consumer_id: bob.consumerId, key_id: bobKey.id, day: today(), requests: 100, last_used_at: now },
        { consumer_id: 'con_gone', day: today(), requests: 1, last_used_at: now },
        // a key id that is not this consumer's is not counted against the key
        { consumer_id: alice.consumerId, key_id: bobKey.id, day: today(), requests: 1000, last_used_at: now },
      ],
    };
    const ingested = await h.call('POST', '/v1/usage', { body: batch });
    assert.equal(ingested.status, 200, ingested.text);
    assert.deepEqual(ingested.body, { batch_id: 'dp-1:0001', duplicate: false, accepted: 4, skipped: 1 });
    const replay = await h.call('POST', '/v1/usage', { body: batch });
    assert.deepEqual(replay.body, { batch_id: 'dp-1:0001', duplicate: true, accepted: 0, skipped: 0 });

    const aliceKeyUsage = await h.call('GET', `/v1/me/keys/${alice.loginId}/usage`, { token: alice.login });
    assert.equal(aliceKeyUsage.body.total, 7);
    assert.equal(aliceKeyUsage.body.last_used_at, now);
    const aliceUsage = await h.call('GET', '/v1/me/usage', { token: alice.login });
    assert.equal(aliceUsage.body.consumer_id, alice.consumerId);
    assert.equal(aliceUsage.body.total, 7 + 3 + 1000);
    const bobKeyUsage = await h.call('GET', `/v1/keys/${bobKey.id}/usage`);
    assert.equal(bobKeyUsage.body.total, 100);
    assert.deepEqual(bobKeyUsage.body.days, [{ day: today(), requests: 100 }]);
    assert.equal((await h.call('GET', `/v1/consumers/${bob.consumerId}/usage`)).body.total, 100);
    assert.equal((await h.call('GET', `/v1/keys/${bobKey.id}`)).body.last_used_at, now);
    assert.equal((await h.call('GET', '/v1/me/usage?from=2020-02-01&to=2020-01-01', { token: alice.login })).status, 400);
  });

  it('accepts usage from a data-plane key that carries only the usage scope', async () => {
    const h = harness();
    const dataPlane = await user(h, 'data plane', []);
    await h.call('PATCH', `/v1/keys/${dataPlane.loginId}`, { body: { scopes: ['portcullis:usage:report'] } });
    const reply = await h.call('POST', '/v1/usage', { token: dataPlane.login, body: { batch_id: 'dp-2:1', entries: [] } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal((await h.call('GET', '/v1/keys', { token: dataPlane.login })).status, 403);
  });
});
