/**
 * Control-plane callers with OIDC tokens from a real issuer over HTTP: the admin role mapping, the first
 * self-service call of an auto-mapped user creating their consumer, required mapping, and one consumer for
 * a user's token and their API keys.
 */
import { assert } from 'chai';
import { autoConsumerId } from '../../../authz-service/src/credentials/jwt/index.js';
import { TestIssuer } from '../../../test/harness/oidc.js';
import { forEachBackend } from '../testing/harness.js';
import { compiledState, judgeKey } from '../testing/verify.js';

const ADMIN_ROLE = 'platform-admin';

forEachBackend(
  'OIDC callers',
  (harness) => {
    let idp: TestIssuer;
    let strictIdp: TestIssuer;
    const userToken = (sub: string, extra: Record<string, unknown> = {}) =>
      idp.keycloakAccessToken({ sub, preferred_username: sub, scope: 'openid profile models:read', ...extra });

    before(async () => {
      idp = await TestIssuer.start({ realm: 'ml' });
      strictIdp = await TestIssuer.start({ realm: 'partners' });
      const h = harness();
      assert.equal((await h.call('POST', '/v1/issuers', { body: { issuer: idp.issuer, audiences: ['account'], consumer_mapping: 'auto' } })).status, 201);
      assert.equal((await h.call('POST', '/v1/issuers', { body: { issuer: strictIdp.issuer, audiences: ['account'], consumer_mapping: 'required' } })).status, 201);
      assert.equal((await h.call('POST', '/v1/services', { body: { name: 'llm', upstream_url: 'http://127.0.0.1:9', match: { path_prefix: '/llm' } } })).status, 201);
    });
    after(async () => {
      await idp?.close();
      await strictIdp?.close();
    });

    it('makes a token with the configured admin role an administrator, and refuses one without it', async () => {
      const h = harness();
      const admin = await idp.keycloakAccessToken({ sub: 'ops-1', realm_access: { roles: [ADMIN_ROLE] } });
      const listed = await h.call('GET', '/v1/consumers', { token: admin });
      assert.equal(listed.status, 200, listed.text);
      const created = await h.call('POST', '/v1/plans', { token: admin, body: { name: 'by-sso', limits: [] } });
      assert.equal(created.status, 201);
      const [row] = await h.cp.db('audit_log').where({ request_id: created.headers.get('x-request-id')! });
      assert.equal(row.actor_id, `jwt:${idp.issuer}#ops-1`);

      const user = await userToken('user-denied');
      const denied = await h.call('POST', '/v1/plans', { token: user, body: { name: 'nope', limits: [] } });
      assert.equal(denied.status, 403);
      const [deniedRow] = await h.cp.db('audit_log').where({ request_id: denied.headers.get('x-request-id')! });
      assert.include(deniedRow, { outcome: 'denied', actor_kind: 'jwt', action: 'createPlan' });
    });

    it("creates an auto-mapped user's consumer on their first self-service call, linked to their subject", async () => {
      const h = harness();
      const expectedId = autoConsumerId(idp.issuer, 'user-1');
      assert.equal((await h.call('GET', `/v1/consumers/${expectedId}`)).status, 404);
      const me = await h.call('GET', '/v1/me', { token: await userToken('user-1') });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.consumer.id, expectedId);
      assert.deepEqual(me.body.consumer.subjects, [{ issuer: idp.issuer, sub: 'user-1' }]);
      assert.equal(me.body.consumer.name, 'user-1');
      assert.equal((await compiledState(h)).consumerBySubject(idp.issuer, 'user-1')?.id, expectedId);
      const audit = await h.call('GET', `/v1/audit?action=consumer.auto_create&resource_id=${expectedId}`);
      assert.lengthOf(audit.body.items, 1);
      // a second call changes nothing
      await h.call('GET', '/v1/me', { token: await userToken('user-1') });
      assert.lengthOf((await h.call('GET', `/v1/audit?action=consumer.auto_create&resource_id=${expectedId}`)).body.items, 1);
    });

    it("gives a user's key the same consumer as their token, with scopes only from the token", async () => {
      const h = harness();
      const token = await userToken('user-2');
      const created = await h.call('POST', '/v1/me/services/llm/key', { token });
      assert.equal(created.status, 201, created.text);
      assert.equal(created.body.key.consumer_id, autoConsumerId(idp.issuer, 'user-2'));
      assert.equal(await judgeKey(h, created.body.key.key, h.clock.now(), 'llm'), 'resolved');
      const scoped = await h.call('POST', '/v1/me/keys', { token, body: { services: ['llm'], scopes: ['models:read'] } });
      assert.equal(scoped.status, 201, scoped.text);
      assert.equal((await h.call('POST', '/v1/me/keys', { token, body: { services: ['llm'], scopes: ['models:write'] } })).status, 400);
      assert.equal((await h.call('POST', '/v1/me/keys', { token, body: { services: ['llm'], scopes: [ADMIN_ROLE] } })).status, 400);
      // another user cannot touch it
      const other = await userToken('user-3');
      assert.equal((await h.call('GET', `/v1/me/keys/${scoped.body.id}`, { token: other })).status, 404);
      assert.equal((await h.call('POST', `/v1/me/keys/${scoped.body.id}/revoke`, { token: other })).status, 404);
      assert.equal((await h.call('GET', `/v1/me/keys/${scoped.body.id}`, { token })).body.status, 'active');
    });

    it('refuses unknown subjects of a required-mapping issuer until an admin links them', async () => {
      const h = harness();
      const token = await strictIdp.keycloakAccessToken({ sub: 'partner-7' });
      const refused = await h.call('GET', '/v1/me', { token });
      assert.equal(refused.status, 403, refused.text);
      assert.equal(refused.body.code, 'unknown_consumer');
      const consumer = await h.call('POST', '/v1/consumers', { body: { name: 'Partner 7', subject: { issuer: strictIdp.issuer, sub: 'partner-7' } } });
      const me = await h.call('GET', '/v1/me', { token });
      assert.equal(me.status, 200, me.text);
      assert.equal(me.body.consumer.id, consumer.body.id);
    });

    it('refuses forged, expired and foreign tokens', async () => {
      const h = harness();
      const forged = `${(await userToken('user-4')).slice(0, -4)}AAAA`;
      assert.equal((await h.call('GET', '/v1/me', { token: forged })).status, 401);
      const expired = await userToken('user-4', { exp: Math.floor(Date.now() / 1000) - 600, iat: Math.floor(Date.now() / 1000) - 900 });
      const reply = await h.call('GET', '/v1/me', { token: expired });
      assert.equal(reply.status, 401);
      assert.equal(reply.body.code, 'token_expired');
      const stranger = await TestIssuer.start({ realm: 'elsewhere' });
      try {
        const foreign = await h.call('GET', '/v1/me', { token: await stranger.keycloakAccessToken() });
        assert.equal(foreign.status, 401);
        assert.equal(foreign.body.code, 'untrusted_issuer');
      } finally {
        await stranger.close();
      }
    });
  },
  { env: { PORTCULLIS_ADMIN_ROLE: ADMIN_ROLE } },
);
