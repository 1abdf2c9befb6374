/**
 * 3scale provisioning end to end: the control plane's REST API with the 3scale provisioner configured,
 * against the Admin API double (real HTTP), on both storage backends. Keys are judged the way the data plane
 * judges them: the shared ApiKeyResolver over the compiled /v1/state document.
 */
import { assert } from 'chai';
import { waitFor } from '../../../../test/harness/ports.js';
import { ThreescaleDouble, type PlanRecord, type ServiceRecord } from '../../../../test/harness/threescale.js';
import { BACKENDS, startHarness, type Harness } from '../../testing/harness.js';
import { EMAIL_DOMAIN, catalog, keysOf, threescaleEnv, user } from '../../testing/threescale.js';
import { dumpDatabase, judgeKey } from '../../testing/verify.js';

const hmac = (h: Harness, value: string) => h.cp.hasher.hash(value);

for (const backend of BACKENDS) {
  describe(`3scale provisioning through the REST API [${backend}]`, function () {
    this.timeout(180_000);
    let h: Harness;
    let threescale: ThreescaleDouble;
    let mlaas: ServiceRecord;
    let basic: PlanRecord;
    let pro: PlanRecord;
    /** Set by a test to make the next key insert fail after 3scale already answered. */
    let crashDuringKeyCreate: (() => Promise<void>) | undefined;

    before(async () => {
      threescale = await ThreescaleDouble.start();
      mlaas = threescale.addService({ name: 'MLaaS', system_name: 'mlaas' });
      basic = threescale.addPlan(mlaas.id, { name: 'Basic', system_name: 'basic', default: true });
      threescale.addLimit(basic.id, 'minute', 60);
      threescale.addLimit(basic.id, 'day', 10_000);
      threescale.addLimit(basic.id, 'eternity', 5);
      pro = threescale.addPlan(mlaas.id, { name: 'Pro', system_name: 'pro' });
      // another service in the same tenant, with a default plan: signup gives an app there too
      const other = threescale.addService({ name: 'Other' });
      threescale.addPlan(other.id, { name: 'Other default', default: true });
      h = await startHarness(backend, '3scale', {
        env: threescaleEnv(threescale, mlaas.id),
        keyHooks: {
          duringKeyCreate: async () => {
            const crash = crashDuringKeyCreate;
            crashDuringKeyCreate = undefined;
            await crash?.();
          },
        },
      });
      await catalog(h);
    });

    after(async () => {
      await h?.close();
      await threescale?.stop();
    });

    afterEach(() => {
      threescale.clearFaults();
      crashDuringKeyCreate = undefined;
    });

    it('signs a new user up, reuses the "API signup" application (no duplicate) and mirrors its user_key, hashed', async () => {
      const alice = await user(h, 'alice');
      const before = threescale.requests.length;
      const reply = await h.call('POST', '/v1/me/services/mlaas/key', { token: alice.login });
      assert.equal(reply.status, 201, reply.text);
      assert.isTrue(reply.body.created);

      const account = threescale.findAccountByUsername('alice');
      assert.exists(account, 'signed up in 3scale');
      assert.equal(account!.users[0]!.email, `alice@${EMAIL_DOMAIN}`);
      const apps = threescale.applicationsOf(account!.id).filter((a) => a.service_id === mlaas.id);
      assert.lengthOf(apps, 1, 'the API signup application was used, not a second one created');
      assert.equal(apps[0]!.name, 'API signup');
      assert.equal(reply.body.key.key, apps[0]!.user_key, 'the secret is the application user_key');
      assert.match(reply.body.key.key, /^[0-9a-f]{32}$/);
      assert.equal(reply.body.key.prefix, apps[0]!.user_key!.slice(0, 4));
      assert.deepEqual(reply.body.key.services, ['mlaas']);
      assert.equal(reply.body.key.plan, 'free', 'Basic maps to the Portcullis plan free');
      assert.sameDeepMembers(reply.body.key.limits, [
        { window: '1m', requests: 60 },
        { window: '1d', requests: 10_000 },
      ]);

      const calls = threescale.requests.slice(before);
      assert.deepEqual(
        calls.map((r) => `${r.method} ${r.path.replace(/\d+/g, 'N')}`),
        [
          'GET /admin/api/services/N/application_plans.json',
          'GET /admin/api/services/N/metrics.json',
          'GET /admin/api/accounts/find.json',
          'POST /admin/api/signup.json',
          'GET /admin/api/accounts/N/applications.json',
          'GET /admin/api/application_plans/N/limits.json',
        ],
      );
      for (const call of calls) {
        assert.equal(call.host, threescale.adminHost, 'the tenant in Host');
        assert.equal(call.query['access_token'] ?? call.body['access_token'], threescale.accessToken);
        assert.isUndefined(call.authorization);
      }
      assert.equal(calls[2]!.query['username'], 'alice');
      assert.equal(calls[3]!.contentType, 'application/x-www-form-urlencoded');
      assert.equal(calls[3]!.body['application_plan_id'], String(basic.id));

      // usable: the data plane's resolver over the compiled state document finds it by hash
      assert.equal(await judgeKey(h, reply.body.key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved');
      const stored = (await h.cp.db('api_key_secrets').where({ key_id: reply.body.key.id }).pluck('hash')) as string[];
      assert.deepEqual(stored, [hmac(h, reply.body.key.key)]);
      const link = await h.cp.db('threescale_applications').where({ key_id: reply.body.key.id }).first();
      assert.include(link, { application_id: String(apps[0]!.id), account_id: String(account!.id), state: 'live', tenant: threescale.adminHost });
      const dump = await dumpDatabase(h);
      assert.notInclude(dump, reply.body.key.key, 'the user_key is stored nowhere in plaintext');
      assert.notInclude(dump, threescale.accessToken, 'nor the 3scale access token');
      assert.notInclude(h.logs.text, threescale.accessToken);

      const again = await h.call('POST', '/v1/me/services/mlaas/key', { token: alice.login });
      assert.equal(again.status, 200);
      assert.isFalse(again.body.created);
      assert.equal(again.body.key.id, reply.body.key.id);
      assert.lengthOf(threescale.applicationsOf(account!.id).filter((a) => a.service_id === mlaas.id), 1);
    });

    it('finds an existing account by username and creates its application when it has none for the service', async () => {
      const account = threescale.addAccount({ org_name: 'Bob Ltd', username: 'bob', email: 'bob@corp.test' });
      const bob = await user(h, 'bob');
      const reply = await h.call('POST', '/v1/me/services/mlaas/key', { token: bob.login });
      assert.equal(reply.status, 201, reply.text);
      assert.lengthOf(threescale.requestsTo('POST', /signup\.json$/).filter((r) => r.body['username'] === 'bob'), 0, 'no signup');
      const apps = threescale.applicationsOf(account.id);
      assert.lengthOf(apps, 1);
      assert.equal(apps[0]!.plan_id, basic.id, "the service's default plan");
      assert.equal(reply.body.key.key, apps[0]!.user_key);
      assert.equal(await judgeKey(h, reply.body.key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved');
    });

    it('finds an account by its email when the consumer name is one, and reuses its live application', async () => {
      const account = threescale.addAccount({ org_name: 'Carol', username: 'carol-3s', email: 'carol@corp.test' });
      const existing = threescale.addApplication(account.id, pro.id, { name: 'Carol app' });
      threescale.addApplication(account.id, basic.id, { name: 'Suspended one', state: 'suspended' });
      const carol = await user(h, 'carol@corp.test');
      const reply = await h.call('POST', '/v1/me/services/mlaas/key', { token: carol.login });
      assert.equal(reply.status, 201, reply.text);
      assert.equal(reply.body.key.key, existing.user_key);
      assert.equal(reply.body.key.plan, 'pro');
      assert.deepEqual(reply.body.key.limits, [{ window: '1h', requests: 1000 }], 'Pro has no 3scale limits: the mapping gives them');
      assert.lengthOf(threescale.applicationsOf(account.id), 2, 'nothing created');
    });

    it('provisions through the admin and self-service key routes too, one service per 3scale key, terms from 3scale', async () => {
      const dana = await user(h, 'dana');
      const admin = await h.call('POST', '/v1/keys', { body: { consumer_id: dana.consumerId, services: ['mlaas'], name: 'dana-ml' } });
      assert.equal(admin.status, 201, admin.text);
      assert.equal(threescale.findAccountByUsername('dana') !== undefined, true);
      assert.equal(await judgeKey(h, admin.body.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved');

      const mine = await h.call('POST', '/v1/me/keys', { token: dana.login, body: { services: ['mlaas'], name: 'second' } });
      assert.equal(mine.status, 201, mine.text);
      assert.notEqual(mine.body.key, admin.body.key);
      const account = threescale.findAccountByUsername('dana')!;
      assert.sameMembers(
        threescale.applicationsOf(account.id).filter((a) => a.service_id === mlaas.id).map((a) => a.name),
        ['API signup', 'second'],
        'the second key is a second application',
      );

      const mixed = await h.call('POST', '/v1/keys', { body: { consumer_id: dana.consumerId, services: ['console', 'mlaas'] } });
      assert.equal(mixed.status, 400);
      assert.equal(mixed.body.errors[0].path, 'body.services[1]');
      const withPlan = await h.call('POST', '/v1/keys', { body: { consumer_id: dana.consumerId, services: ['mlaas'], plan: 'pro', limits: [{ window: '1s', requests: 1 }] } });
      assert.equal(withPlan.status, 400);
      assert.sameMembers(
        withPlan.body.errors.map((e: { path: string }) => e.path),
        ['body.plan', 'body.limits'],
      );
      const patch = await h.call('PATCH', `/v1/keys/${admin.body.id}`, { body: { plan: 'pro' } });
      assert.equal(patch.status, 400, patch.text);
      assert.equal(patch.body.errors[0].path, 'body.plan');
      const rename = await h.call('PATCH', `/v1/keys/${admin.body.id}`, { body: { name: 'renamed', scopes: ['x'] } });
      assert.equal(rename.status, 200, 'fields Portcullis owns still change');
      const unknownConsumer = await h.call('POST', '/v1/keys', { body: { consumer_id: 'con_nope', services: ['mlaas'] } });
      assert.equal(unknownConsumer.status, 400);
      assert.equal(unknownConsumer.body.errors[0].path, 'body.consumer_id');
    });

    it('suspends the application on revoke and resumes it on restore', async () => {
      const erin = await user(h, 'erin');
      const key = (await h.call('POST', '/v1/me/services/mlaas/key', { token: erin.login })).body.key;
      const appId = Number((await h.cp.db('threescale_applications').where({ key_id: key.id }).first()).application_id);

      const revoked = await h.call('POST', `/v1/me/keys/${key.id}/revoke`, { token: erin.login, body: { reason: 'leaked' } });
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(threescale.applications.get(appId)!.state, 'suspended');
      assert.equal(await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'api_key_revoked');

      const restored = await h.call('POST', `/v1/keys/${key.id}/restore`);
      assert.equal(restored.status, 200, restored.text);
      assert.equal(threescale.applications.get(appId)!.state, 'live');
      assert.equal(await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved');

      const audit = await h.call('GET', `/v1/audit?resource_id=${key.id}&action=revokeMyKey`);
      assert.equal(audit.body.items[0].change.origin.suspension, 'done');

      // revocation never waits for 3scale: it is enforced by Portcullis, and the suspension is sent later
      await threescale.down();
      try {
        const offline = await h.call('POST', `/v1/keys/${key.id}/revoke`);
        assert.equal(offline.status, 200, offline.text);
        assert.equal(await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'api_key_revoked');
        assert.equal((await h.cp.db('threescale_applications').where({ key_id: key.id }).first()).pending, 'suspend');
        const restore = await h.call('POST', `/v1/keys/${key.id}/restore`);
        assert.equal(restore.status, 200, 'a suspension that never reached 3scale needs no resume');
        assert.equal((await h.call('POST', `/v1/keys/${key.id}/revoke`)).status, 200);
      } finally {
        await threescale.up();
      }
      assert.equal(threescale.applications.get(appId)!.state, 'live', 'not yet');
      const report = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(report.status, 200, report.text);
      assert.deepInclude(report.body.changes.suspensions_sent.items, { key_id: key.id, application_id: String(appId), service: 'mlaas' });
      assert.equal(threescale.applications.get(appId)!.state, 'suspended');
      assert.isNull((await h.cp.db('threescale_applications').where({ key_id: key.id }).first()).pending);
    });

    it("rotates by changing the application's user_key; the old key works in the mirror for the grace period", async () => {
      const fay = await user(h, 'fay');
      const key = (await h.call('POST', '/v1/me/services/mlaas/key', { token: fay.login })).body.key;
      const appId = Number((await h.cp.db('threescale_applications').where({ key_id: key.id }).first()).application_id);
      const puts = threescale.requestsTo('PUT', new RegExp(`/applications/${appId}\\.json$`)).length;

      const rotated = await h.call('POST', `/v1/me/keys/${key.id}/rotate`, { token: fay.login, body: { grace_seconds: 3600 }, headers: { 'idempotency-key': 'rot-1' } });
      assert.equal(rotated.status, 200, rotated.text);
      const fresh: string = rotated.body.key;
      assert.notEqual(fresh, key.key);
      assert.equal(threescale.applications.get(appId)!.user_key, fresh, 'the new value was sent to 3scale');
      const put = threescale.requestsTo('PUT', new RegExp(`/applications/${appId}\\.json$`)).at(-1)!;
      assert.equal(put.body['user_key'], fresh);
      assert.equal(await judgeKey(h, fresh, h.clock.now(), 'mlaas'), 'resolved', 'a Portcullis-format key, so Bearer works too');
      assert.equal(await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved', 'old key in its grace period');
      assert.equal(await judgeKey(h, key.key, h.clock.now() + 3601_000, 'mlaas', 'x-api-key'), 'api_key_expired');

      const replay = await h.call('POST', `/v1/me/keys/${key.id}/rotate`, { token: fay.login, body: { grace_seconds: 3600 }, headers: { 'idempotency-key': 'rot-1' } });
      assert.equal(replay.headers.get('idempotent-replayed'), 'true');
      assert.equal(replay.body.key, fresh);
      assert.equal(threescale.requestsTo('PUT', new RegExp(`/applications/${appId}\\.json$`)).length, puts + 1, 'a replay does not rotate in 3scale again');

      threescale.failNext(1, { kind: 'status', status: 500, match: (r) => r.method === 'PUT' });
      const failed = await h.call('POST', `/v1/keys/${key.id}/rotate`);
      assert.equal(failed.status, 502);
      assert.equal(failed.body.code, 'upstream_provider_error');
      assert.equal(threescale.applications.get(appId)!.user_key, fresh, 'unchanged');
      assert.equal(await judgeKey(h, fresh, h.clock.now(), 'mlaas'), 'resolved');
    });

    it('leaves nothing half-made when 3scale fails mid-provisioning, and answers 502/503 problems', async () => {
      const account = threescale.addAccount({ org_name: 'Gus', username: 'gus', email: 'gus@corp.test' });
      const gus = await user(h, 'gus');
      const attempt = () => h.call('POST', '/v1/me/services/mlaas/key', { token: gus.login });
      const nothingStored = async (what: string) => {
        assert.lengthOf(await keysOf(h, gus.consumerId), 1, `${what}: only the login key`);
        assert.lengthOf(await h.cp.db('threescale_accounts').where({ consumer_id: gus.consumerId }), 0, `${what}: no account link`);
      };

      threescale.failNext(1, { kind: 'status', status: 500, match: (r) => r.method === 'POST' });
      const server = await attempt();
      assert.equal(server.status, 502, server.text);
      assert.equal(server.body.code, 'upstream_provider_error');
      assert.equal(server.headers.get('content-type')?.split(';')[0], 'application/problem+json');
      assert.notInclude(server.text, threescale.accessToken);
      await nothingStored('500 on create');
      assert.lengthOf(threescale.applicationsOf(account.id), 0);

      threescale.failNext(1, { kind: 'timeout', match: (r) => r.method === 'POST' });
      const slow = await attempt();
      assert.equal(slow.status, 503, slow.text);
      assert.equal(slow.body.code, 'dependency_unavailable');
      await nothingStored('timeout');

      await threescale.down();
      const unreachable = await attempt();
      await threescale.up();
      assert.equal(unreachable.status, 503);
      assert.match(unreachable.body.detail, /connection refused/);
      await nothingStored('unreachable');

      // the application is made, then the answer is lost: the next attempt finds and uses it
      threescale.failNext(1, { kind: 'drop', phase: 'after', match: (r) => r.method === 'POST' });
      const lost = await attempt();
      assert.equal(lost.status, 503, lost.text);
      await nothingStored('answer lost');
      assert.lengthOf(threescale.applicationsOf(account.id), 1);
      const retry = await attempt();
      assert.equal(retry.status, 201, retry.text);
      assert.lengthOf(threescale.applicationsOf(account.id), 1, 'no duplicate application');
      assert.equal(retry.body.key.key, threescale.applicationsOf(account.id)[0]!.user_key);
    });

    it('undoes the 3scale side when the database transaction fails, or records an orphan for reconciliation', async () => {
      const account = threescale.addAccount({ org_name: 'Hal', username: 'hal', email: 'hal@corp.test' });
      const hal = await user(h, 'hal');
      crashDuringKeyCreate = async () => {
        throw new Error('simulated failure after 3scale answered');
      };
      const crashed = await h.call('POST', '/v1/me/services/mlaas/key', { token: hal.login });
      assert.equal(crashed.status, 500, crashed.text);
      assert.lengthOf(await keysOf(h, hal.consumerId), 1, 'only the login key');
      assert.lengthOf(threescale.applicationsOf(account.id), 0, 'the application it created was deleted again');
      const deletes = threescale.requestsTo('DELETE', /\/applications\/\d+\.json$/);
      assert.equal(deletes.at(-1)!.status, 200);

      crashDuringKeyCreate = async () => {
        await threescale.down();
        throw new Error('simulated failure, and 3scale gone too');
      };
      const orphaned = await h.call('POST', '/v1/me/services/mlaas/key', { token: hal.login });
      await threescale.up();
      assert.equal(orphaned.status, 500);
      assert.lengthOf(await keysOf(h, hal.consumerId), 1);
      const orphan = threescale.applicationsOf(account.id)[0]!;
      assert.exists(orphan, 'still in 3scale');
      const recorded = await h.cp.db('threescale_orphans').select('application_id');
      assert.deepEqual(recorded, [{ application_id: String(orphan.id) }]);

      const report = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(report.status, 200, report.text);
      assert.deepEqual(report.body.changes.orphans_deleted.items, [{ application_id: String(orphan.id), service: 'mlaas' }]);
      assert.lengthOf(threescale.applicationsOf(account.id), 0);
      assert.lengthOf(await h.cp.db('threescale_orphans'), 0);
      assert.notInclude(
        report.body.changes.imported.items.map((i: { application_id: string }) => i.application_id),
        String(orphan.id),
      );
    });

    it('surfaces a 3scale 422 as a validation problem with the field', async () => {
      threescale.addAccount({ org_name: 'Someone', username: 'someone-else', email: `ivy@${EMAIL_DOMAIN}` });
      const ivy = await user(h, 'ivy');
      const reply = await h.call('POST', '/v1/me/services/mlaas/key', { token: ivy.login });
      assert.equal(reply.status, 400, reply.text);
      assert.equal(reply.body.code, 'validation_failed');
      assert.deepEqual(reply.body.errors, [{ path: 'threescale.email', message: 'has already been taken' }]);
      assert.lengthOf(await keysOf(h, ivy.consumerId), 1);
      assert.isUndefined(threescale.findAccountByUsername('ivy'));
    });

    it('reconciles drift both ways, reports it with ids, audits it, and is idempotent', async () => {
      const jo = await user(h, 'joan');
      const keyA = (await h.call('POST', '/v1/me/services/mlaas/key', { token: jo.login })).body.key;
      const keyB = (await h.call('POST', '/v1/me/keys', { token: jo.login, body: { services: ['mlaas'], name: 'b' } })).body;
      const keyC = (await h.call('POST', '/v1/me/keys', { token: jo.login, body: { services: ['mlaas'], name: 'c' } })).body;
      const keyD = (await h.call('POST', '/v1/me/keys', { token: jo.login, body: { services: ['mlaas'], name: 'd' } })).body;
      const appOf = async (keyId: string) => Number((await h.cp.db('threescale_applications').where({ key_id: keyId }).first()).application_id);
      const [appA, appB, appC, appD] = [await appOf(keyA.id), await appOf(keyB.id), await appOf(keyC.id), await appOf(keyD.id)];
      assert.equal((await h.call('POST', `/v1/keys/${keyD.id}/revoke`)).status, 200);
      const baseline = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(baseline.status, 200, baseline.text);

      // drift made by a 3scale administrator
      threescale.changeApplication(appA, { user_key: 'changed-in-3scale-0001' });
      threescale.changeApplication(appB, { state: 'suspended' });
      threescale.changeApplication(appC, { plan_id: pro.id });
      threescale.changeApplication(appD, { state: 'live' });
      const vanishing = (await h.call('POST', '/v1/me/keys', { token: jo.login, body: { services: ['mlaas'], name: 'e' } })).body;
      const appE = await appOf(vanishing.id);
      threescale.removeApplication(appE);
      const account = threescale.findAccountByUsername('joan')!;
      const added = threescale.addApplication(account.id, basic.id, { name: 'made in 3scale' });
      const stranger = threescale.addAccount({ org_name: 'Stranger', username: 'stranger', email: 'stranger@corp.test' });
      const unlinked = threescale.addApplication(stranger.id, basic.id);

      const reply = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(reply.status, 200, reply.text);
      const report = reply.body;
      const item = (keyId: string, app: number) => ({ key_id: keyId, application_id: String(app), service: 'mlaas' });
      assert.deepInclude(report.changes.rotated.items, item(keyA.id, appA));
      assert.deepInclude(report.changes.suspended.items, item(keyB.id, appB));
      assert.deepInclude(report.changes.replanned.items, item(keyC.id, appC));
      assert.deepInclude(report.changes.resumed.items, item(keyD.id, appD));
      assert.deepInclude(report.changes.revoked.items, item(vanishing.id, appE));
      const imported = report.changes.imported.items.find((i: { application_id: string }) => i.application_id === String(added.id));
      assert.exists(imported, 'a new application of a linked account is mirrored');
      assert.deepInclude(report.unlinked.items, { application_id: String(unlinked.id), service: 'mlaas' });
      for (const kind of Object.keys(report.changes)) assert.equal(report.changes[kind].count, report.changes[kind].items.length);
      assert.isAtLeast(report.changed, 6);
      assert.include(report.services.checked, 'mlaas');

      const now = h.clock.now();
      assert.equal(await judgeKey(h, 'changed-in-3scale-0001', now, 'mlaas', 'x-api-key'), 'resolved', 'the new user_key works');
      assert.equal(await judgeKey(h, keyA.key, now, 'mlaas', 'x-api-key'), 'unknown_api_key', 'the old one ended with the change (no grace: 3scale refuses it already)');
      assert.equal(await judgeKey(h, keyB.key, now, 'mlaas', 'x-api-key'), 'api_key_revoked');
      assert.equal(await judgeKey(h, keyD.key, now, 'mlaas', 'x-api-key'), 'resolved');
      assert.equal(await judgeKey(h, vanishing.key, now, 'mlaas', 'x-api-key'), 'api_key_revoked');
      assert.equal(await judgeKey(h, added.user_key!, now, 'mlaas', 'x-api-key'), 'resolved');
      assert.equal(await judgeKey(h, unlinked.user_key!, now, 'mlaas', 'x-api-key'), 'unknown_api_key');
      const replanned = await h.call('GET', `/v1/keys/${keyC.id}`);
      assert.equal(replanned.body.plan, 'pro');
      assert.deepEqual(replanned.body.limits, [{ window: '1h', requests: 1000 }]);

      const audit = await h.call('GET', '/v1/audit?action=reconcileThreescale&limit=200');
      const audited = new Set(audit.body.items.map((e: { resource_id: string }) => e.resource_id));
      for (const keyId of [keyA.id, keyB.id, keyC.id, keyD.id, vanishing.id, imported.key_id]) assert.isTrue(audited.has(keyId), `audit row for ${keyId}`);

      const revision = (await h.call('GET', '/v1/state')).body.revision;
      const again = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(again.body.changed, 0, JSON.stringify(again.body.changes));
      assert.equal((await h.call('GET', '/v1/state')).body.revision, revision, 'no change, no new state revision');
    });

    it('skips a mapped service 3scale does not know instead of revoking its keys', async () => {
      const kim = await user(h, 'kim');
      const key = (await h.call('POST', '/v1/me/services/mlaas/key', { token: kim.login })).body.key;
      const saved = threescale.services.get(mlaas.id)!;
      threescale.services.delete(mlaas.id);
      try {
        const reply = await h.call('POST', '/v1/provisioners/threescale/reconcile');
        assert.equal(reply.status, 200);
        assert.deepEqual(reply.body.services.skipped, [{ service: 'mlaas', reason: `3scale has no service ${mlaas.id}` }]);
        assert.equal(reply.body.changed, 0);
      } finally {
        threescale.services.set(mlaas.id, saved);
      }
      assert.equal(await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved');

      threescale.failNext(1, { kind: 'status', status: 503, match: (r) => r.path.endsWith('/applications.json') && r.method === 'GET' && r.query['page'] !== undefined });
      const failed = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(failed.status, 503, 'a listing that fails aborts the run: nothing is mistaken for vanished');
      assert.equal(await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key'), 'resolved');
    });

    it('pages through more than 500 applications (per_page=500) when reconciling', async () => {
      const lee = await user(h, 'lee');
      assert.equal((await h.call('POST', '/v1/me/services/mlaas/key', { token: lee.login })).status, 201);
      const account = threescale.findAccountByUsername('lee')!;
      const total = [...threescale.applications.values()].filter((a) => a.service_id === mlaas.id).length;
      const extra = 501 - total + 10;
      for (let i = 0; i < extra; i++) threescale.addApplication(account.id, basic.id, { name: `bulk ${i}` });
      const before = threescale.requests.length;
      const reply = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(reply.status, 200, reply.text);
      const listings = threescale.requests.slice(before).filter((r) => r.path === '/admin/api/applications.json');
      assert.deepEqual(
        listings.map((r) => [r.query['page'], r.query['per_page'], r.query['service_id']]),
        [
          ['1', '500', String(mlaas.id)],
          ['2', '500', String(mlaas.id)],
        ],
      );
      assert.isAbove(reply.body.applications, 500);
      assert.equal(reply.body.changes.imported.count, extra);
      assert.lengthOf(await keysOf(h, lee.consumerId), extra + 2);
    });
  });
}

describe('3scale provisioning: not configured, and the background job', function () {
  this.timeout(120_000);

  it('answers 404 on the reconcile endpoint when 3scale is not configured', async () => {
    const h = await startHarness('pglite', 'no3scale');
    try {
      const reply = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(reply.status, 404);
      assert.equal(reply.body.code, 'not_found');
    } finally {
      await h.close();
    }
  });

  it('reconciles on its interval when one is configured', async () => {
    const threescale = await ThreescaleDouble.start();
    const service = threescale.addService({ name: 'MLaaS' });
    threescale.addPlan(service.id, { name: 'Basic', system_name: 'basic', default: true });
    const h = await startHarness('pglite', 'job3scale', { env: threescaleEnv(threescale, service.id, { reconcile_interval_seconds: 1 }) });
    try {
      await catalog(h);
      const max = await user(h, 'max');
      const key = (await h.call('POST', '/v1/me/services/mlaas/key', { token: max.login })).body.key;
      const appId = Number((await h.cp.db('threescale_applications').where({ key_id: key.id }).first()).application_id);
      threescale.changeApplication(appId, { state: 'suspended' });
      await waitFor(async () => (await judgeKey(h, key.key, h.clock.now(), 'mlaas', 'x-api-key')) === 'api_key_revoked', 'the job to revoke the key', 20_000, 250);
      const audit = await h.call('GET', `/v1/audit?resource_id=${key.id}&action=provisioner.reconcile`);
      assert.equal(audit.body.items[0].actor.kind, 'system');
    } finally {
      await h.close();
      await threescale.stop();
    }
  });
});
