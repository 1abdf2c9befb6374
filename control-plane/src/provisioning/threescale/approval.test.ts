/**
 * 3scale application plans that require approval ("Applications require approval?"): 3scale creates the
 * application `pending` and lets it in only once an administrator accepts it. The key mirroring it must open
 * nothing until then, and start working by itself once accepted. Real HTTP against the Admin API double, on
 * both storage backends; keys are judged as the data plane judges them (ApiKeyResolver over /v1/state).
 */
import { assert } from 'chai';
import { KeyResourceSchema, KeyWithSecretSchema } from '../../api/keys.js';
import { ReconcileReportSchema } from '../../api/provisioners.js';
import { ThreescaleDouble, type PlanRecord, type ServiceRecord } from '../../../../test/harness/threescale.js';
import { BACKENDS, startHarness, type Harness, type Reply } from '../../testing/harness.js';
import { applicationOf, catalog, threescaleEnv, user } from '../../testing/threescale.js';
import { judgeKey } from '../../testing/verify.js';

for (const backend of BACKENDS) {
  describe(`3scale applications awaiting approval [${backend}]`, function () {
    this.timeout(180_000);
    let h: Harness;
    let threescale: ThreescaleDouble;
    let mlaas: ServiceRecord;
    let gated: PlanRecord;

    before(async () => {
      threescale = await ThreescaleDouble.start();
      mlaas = threescale.addService({ name: 'MLaaS', system_name: 'mlaas' });
      // the service's default plan, so signup's "API signup" application is pending too
      gated = threescale.addPlan(mlaas.id, { name: 'Gated', system_name: 'gated', default: true, approval_required: true });
      h = await startHarness(backend, '3scale-approval', { env: threescaleEnv(threescale, mlaas.id, { plans: { gated: { plan: 'free' } } }) });
      await catalog(h);
    });

    after(async () => {
      await h?.close();
      await threescale?.stop();
    });

    const judge = (key: string) => judgeKey(h, key, h.clock.now(), 'mlaas', 'x-api-key');
    const getKey = async (id: string) => KeyResourceSchema.parse((await h.call('GET', `/v1/keys/${id}`)).body);
    const link = async (keyId: string) => (await h.cp.db('threescale_applications').where({ key_id: keyId }).first()) as { state: string; pending: string | null };
    const reconcile = async () => {
      const reply = await h.call('POST', '/v1/provisioners/threescale/reconcile');
      assert.equal(reply.status, 200, reply.text);
      return ReconcileReportSchema.parse(reply.body);
    };
    const item = (keyId: string, app: number) => ({ key_id: keyId, application_id: String(app), service: 'mlaas' });
    const auditOf = async (keyId: string, action: string) => {
      const reply = await h.call('GET', `/v1/audit?resource_id=${keyId}&action=${action}`);
      assert.equal(reply.status, 200, reply.text);
      assert.lengthOf(reply.body.items, 1, `one ${action} audit row for ${keyId}`);
      return reply.body.items[0].change;
    };
    const statusesOf = async (path: string, token?: string): Promise<string[]> => {
      const reply: Reply = await h.call('GET', path, token === undefined ? {} : { token });
      assert.equal(reply.status, 200, reply.text);
      return reply.body.items.map((k: { id: string }) => k.id);
    };

    it('issues the key of a pending application inactive (pending_approval, refused by the data plane) and activates it when 3scale accepts', async () => {
      const alice = await user(h, 'alice');
      const reply = await h.call('POST', '/v1/me/services/mlaas/key', { token: alice.login });
      assert.equal(reply.status, 201, reply.text);
      const key = KeyWithSecretSchema.parse(reply.body.key);
      const account = threescale.findAccountByUsername('alice')!;
      const apps = threescale.applicationsOf(account.id);
      assert.deepEqual(
        apps.map((a) => [a.name, a.state]),
        [['API signup', 'pending']],
        "signup's pending application is the key's: no second one queued for approval",
      );
      const appId = apps[0]!.id;
      assert.equal(key.key, apps[0]!.user_key);
      assert.equal(key.status, 'pending_approval');
      assert.isTrue(key.revoked);
      assert.equal(key.revoked_at, key.created_at, 'inactive from its first instant');
      assert.equal(await judge(key.key), 'api_key_revoked', 'the data plane refuses it');
      assert.deepInclude(await link(key.id), { state: 'pending', pending: null });

      const created = await auditOf(key.id, 'getOrCreateMyServiceKey');
      assert.deepEqual(created.origin, { provisioner: 'threescale', tenant: threescale.adminHost, account_id: String(account.id), application_id: String(appId), application: 'reused', approval: 'pending' });
      assert.isTrue(created.after.awaitingApproval);

      // asking again answers with the waiting key instead of queueing another application for approval
      const again = await h.call('POST', '/v1/me/services/mlaas/key', { token: alice.login });
      assert.equal(again.status, 200, again.text);
      assert.isFalse(again.body.created);
      assert.equal(again.body.key.id, key.id);
      assert.equal(again.body.key.status, 'pending_approval');
      assert.lengthOf(threescale.applicationsOf(account.id), 1);

      // one status per key, in the resource and in the filters
      assert.deepEqual(await statusesOf(`/v1/keys?consumer_id=${alice.consumerId}&status=pending_approval`), [key.id]);
      assert.deepEqual(await statusesOf(`/v1/keys?consumer_id=${alice.consumerId}&status=revoked`), []);
      assert.notInclude(await statusesOf(`/v1/keys?consumer_id=${alice.consumerId}&status=active`), key.id);
      assert.deepEqual(await statusesOf('/v1/me/keys?status=pending_approval', alice.login), [key.id]);
      assert.equal((await h.call('GET', '/v1/keys?status=pending')).status, 400, 'only the documented statuses');

      const waiting = await reconcile();
      assert.notDeepInclude(waiting.changes.approved.items, item(key.id, appId), 'not while 3scale has not accepted');
      assert.equal((await getKey(key.id)).status, 'pending_approval');

      threescale.acceptApplication(appId);
      const report = await reconcile();
      assert.deepInclude(report.changes.approved.items, item(key.id, appId));
      assert.equal(report.changes.approved.count, report.changes.approved.items.length);
      assert.notDeepInclude(report.changes.resumed.items, item(key.id, appId));
      assert.equal(await judge(key.key), 'resolved', 'accepted: the same secret works now');
      const active = await getKey(key.id);
      assert.equal(active.status, 'active');
      assert.isFalse(active.revoked);
      assert.isUndefined(active.revoked_at);
      assert.deepInclude(await link(key.id), { state: 'live', pending: null });
      const restored = await auditOf(key.id, 'reconcileThreescale');
      assert.deepInclude(restored, { revoked: false, was_awaiting_approval: true });
      assert.equal(restored.origin.approval, 'accepted');

      const quiet = await reconcile();
      assert.notDeepInclude(quiet.changes.approved.items, item(key.id, appId), 'approved once');
    });

    it('refuses a manual restore while 3scale has not accepted (409, nothing sent to 3scale); once accepted it may', async () => {
      const account = threescale.addAccount({ org_name: 'Bob', username: 'bob', email: 'bob@corp.test' });
      const bob = await user(h, 'bob');
      const reply = await h.call('POST', '/v1/keys', { body: { consumer_id: bob.consumerId, services: ['mlaas'] } });
      assert.equal(reply.status, 201, reply.text);
      assert.equal(reply.body.status, 'pending_approval');
      const appId = await applicationOf(h, reply.body.id);
      assert.equal(threescale.requestsTo('POST', new RegExp(`/accounts/${account.id}/applications\\.json$`)).at(-1)!.status, 201, 'created through the Admin API');
      assert.equal(threescale.applications.get(appId)!.state, 'pending');

      const writes = () => threescale.requestsTo('PUT', new RegExp(`/applications/${appId}/\\w+\\.json$`)).length;
      const before = writes();
      const refused = await h.call('POST', `/v1/keys/${reply.body.id}/restore`);
      assert.equal(refused.status, 409, refused.text);
      assert.equal(refused.body.code, 'conflict');
      assert.equal(
        refused.body.detail,
        `the 3scale application of key "${reply.body.id}" awaits approval in 3scale; the key becomes active by itself once a 3scale administrator accepts it`,
      );
      assert.equal(writes(), before, 'neither accept nor resume was sent');
      assert.equal(threescale.applications.get(appId)!.state, 'pending');
      assert.equal((await getKey(reply.body.id)).status, 'pending_approval');
      assert.equal(await judge(reply.body.key), 'api_key_revoked');
      const rotate = await h.call('POST', `/v1/keys/${reply.body.id}/rotate`);
      assert.equal(rotate.status, 409, rotate.text);
      assert.match(rotate.body.detail, /awaits approval/);

      threescale.acceptApplication(appId);
      const restored = await h.call('POST', `/v1/keys/${reply.body.id}/restore`);
      assert.equal(restored.status, 200, restored.text);
      assert.equal(restored.body.status, 'active');
      assert.equal(writes(), before, 'live already: nothing to resume');
      assert.equal(threescale.applications.get(appId)!.state, 'live');
      assert.equal(await judge(reply.body.key), 'resolved');
      assert.deepInclude(await link(reply.body.id), { state: 'live', pending: null });
      const report = await reconcile();
      assert.notDeepInclude(report.changes.approved.items, item(reply.body.id, appId));
      assert.equal((await getKey(reply.body.id)).status, 'active');
    });

    it('keeps a key revoked while pending revoked when 3scale accepts (and suspends it there), and revokes one whose application is rejected', async () => {
      const carol = await user(h, 'carol');
      const first = (await h.call('POST', '/v1/me/services/mlaas/key', { token: carol.login })).body.key;
      const second = await h.call('POST', '/v1/me/keys', { token: carol.login, body: { services: ['mlaas'], name: 'second' } });
      assert.equal(second.status, 201, second.text);
      assert.equal(second.body.status, 'pending_approval');
      const third = (await h.call('POST', '/v1/me/keys', { token: carol.login, body: { services: ['mlaas'], name: 'third' } })).body;
      const [appFirst, appSecond, appThird] = [await applicationOf(h, first.id), await applicationOf(h, second.body.id), await applicationOf(h, third.id)];

      // Carol withdraws her first request: 3scale cannot suspend a pending application, so that waits
      const revoked = await h.call('POST', `/v1/me/keys/${first.id}/revoke`, { token: carol.login, body: { reason: 'not needed' } });
      assert.equal(revoked.status, 200, revoked.text);
      assert.equal(revoked.body.status, 'revoked');
      assert.deepInclude(await link(first.id), { state: 'pending', pending: 'suspend' });
      const audit = await auditOf(first.id, 'revokeMyKey');
      assert.deepInclude(audit, { revoked: true, reason: 'not needed', was_awaiting_approval: true });
      assert.equal(audit.origin.suspension, 'pending');
      assert.equal((await h.call('POST', `/v1/me/keys/${first.id}/revoke`, { token: carol.login })).status, 200, 'revoking again changes nothing');
      assert.equal(threescale.applications.get(appFirst)!.state, 'pending');

      // a 3scale administrator rejects the second request, and the third that Carol withdrew: deleted
      assert.equal((await h.call('POST', `/v1/me/keys/${third.id}/revoke`, { token: carol.login })).status, 200);
      threescale.removeApplication(appSecond);
      threescale.removeApplication(appThird);
      threescale.acceptApplication(appFirst);
      const report = await reconcile();
      assert.deepInclude(report.changes.suspensions_sent.items, item(first.id, appFirst));
      assert.notDeepInclude(report.changes.approved.items, item(first.id, appFirst), 'revoked by Carol: approval does not bring it back');
      assert.equal(threescale.applications.get(appFirst)!.state, 'suspended', 'and 3scale no longer lets it in either');
      assert.deepInclude(report.changes.revoked.items, item(second.body.id, appSecond));
      assert.notDeepInclude(report.changes.revoked.items, item(third.id, appThird), 'revoked already: nothing changed for the key');
      assert.equal((await getKey(first.id)).status, 'revoked');
      assert.equal((await getKey(second.body.id)).status, 'revoked');
      assert.equal(await judge(first.key), 'api_key_revoked');
      assert.equal(await judge(second.body.key), 'api_key_revoked');
      assert.deepInclude(await link(first.id), { state: 'suspended', pending: null });
      assert.deepInclude(await link(second.body.id), { state: 'deleted', pending: null });
      assert.deepInclude(await link(third.id), { state: 'deleted', pending: null }, 'no suspension left to send for a deleted application');
      assert.equal((await getKey(third.id)).status, 'revoked');

      const again = await reconcile();
      const ours = new Set([first.id, second.body.id, third.id]);
      const mine = (kind: keyof typeof again.changes) => again.changes[kind].items.filter((i) => ours.has(i.key_id!));
      for (const kind of ['approved', 'revoked', 'suspended', 'suspensions_sent', 'resumed'] as const) assert.deepEqual(mine(kind), [], `nothing more to ${kind}`);
    });

    it('revokes a waiting key whose application 3scale suspends; a later resume is 3scale letting it in', async () => {
      const dana = await user(h, 'dana');
      const key = (await h.call('POST', '/v1/me/services/mlaas/key', { token: dana.login })).body.key;
      const appId = await applicationOf(h, key.id);
      // porta has no pending → suspended transition; the double's drift can still put it there
      threescale.changeApplication(appId, { state: 'suspended' });
      const report = await reconcile();
      assert.deepInclude(report.changes.suspended.items, item(key.id, appId));
      assert.equal((await getKey(key.id)).status, 'revoked', 'no longer waiting for an approval');
      assert.equal(await judge(key.key), 'api_key_revoked');

      threescale.changeApplication(appId, { state: 'live' });
      const resumed = await reconcile();
      assert.deepInclude(resumed.changes.resumed.items, item(key.id, appId));
      assert.notDeepInclude(resumed.changes.approved.items, item(key.id, appId));
      assert.equal(await judge(key.key), 'resolved');
    });

    it('imports a pending application of a linked account as a key awaiting approval, active once accepted', async () => {
      const erin = await user(h, 'erin');
      assert.equal((await h.call('POST', '/v1/me/services/mlaas/key', { token: erin.login })).status, 201);
      const account = threescale.findAccountByUsername('erin')!;
      const made = threescale.addApplication(account.id, gated.id, { name: 'made in 3scale' });
      assert.equal(made.state, 'pending');

      const report = await reconcile();
      const imported = report.changes.imported.items.find((i) => i.application_id === String(made.id));
      assert.exists(imported);
      const keyId = imported!.key_id!;
      const key = await getKey(keyId);
      assert.equal(key.status, 'pending_approval');
      assert.equal(key.name, 'made in 3scale');
      assert.equal(await judge(made.user_key!), 'api_key_revoked');
      const audit = await auditOf(keyId, 'reconcileThreescale');
      assert.equal(audit.origin.approval, 'pending');
      assert.equal(audit.origin.application, 'imported');
      assert.isTrue(audit.after.awaitingApproval);

      threescale.acceptApplication(made.id);
      const accepted = await reconcile();
      assert.deepInclude(accepted.changes.approved.items, item(keyId, made.id));
      assert.equal((await getKey(keyId)).status, 'active');
      assert.equal(await judge(made.user_key!), 'resolved');
    });
  });
}
