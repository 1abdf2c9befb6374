import { assert } from 'chai';
import { startHarness } from '../testing/harness.js';

describe('first start', function () {
  this.timeout(120_000);

  it('creates one admin key on an empty store, shows it once, and it can administer', async () => {
    const announced: string[] = [];
    const h = await startHarness('postgres', 'boot', { announce: (m) => announced.push(m) });
    try {
      assert.lengthOf(announced, 1);
      const key = /\b(pc_[A-Za-z0-9]{36})\b/.exec(announced[0]!)![1]!;
      assert.isTrue(h.cp.bootstrap.created);
      const me = await h.call('GET', '/v1/me', { token: key });
      assert.equal(me.body.actor.admin, true);
      assert.equal(me.body.consumer.kind, 'service_account');
      assert.equal((await h.call('GET', '/v1/keys', { token: key })).status, 200);
      const [row] = await h.cp.db('audit_log').where({ action: 'bootstrap', resource_type: 'key' });
      assert.include(row, { actor_id: 'system', outcome: 'success' });
      assert.notInclude(JSON.stringify(await h.cp.db('api_key_secrets').select('*')), key);
    } finally {
      await h.close();
    }
  });

  it('accepts PORTCULLIS_BOOTSTRAP_ADMIN_KEY as an administrator and then creates no key', async () => {
    const bootstrapKey = 'operator-chosen-bootstrap-admin-key-0123456789';
    const announced: string[] = [];
    const h = await startHarness('postgres', 'bootenv', { env: { PORTCULLIS_BOOTSTRAP_ADMIN_KEY: bootstrapKey }, announce: (m) => announced.push(m) });
    try {
      assert.lengthOf(announced, 0);
      assert.equal(Number((await h.cp.db('api_keys').count({ n: '*' }).first())!.n), 0);
      const created = await h.call('POST', '/v1/consumers', { token: bootstrapKey, body: { name: 'First' } });
      assert.equal(created.status, 201);
      const [row] = await h.cp.db('audit_log').where({ request_id: created.headers.get('x-request-id')! });
      assert.include(row, { actor_kind: 'bootstrap', actor_id: 'bootstrap' });
      // the bootstrap credential is nobody's: no self-service
      const me = await h.call('GET', '/v1/me', { token: bootstrapKey });
      assert.equal(me.status, 403);
      assert.equal((await h.call('GET', '/v1/keys', { token: `${bootstrapKey}x` })).status, 401);
    } finally {
      await h.close();
    }
  });
});
