/** The 3scale double keeps the documented wire contract (shared/notes §1), including its awkward parts. */
import { assert } from 'chai';
import { send, type TestResponse } from './http.js';
import { DEFAULT_ADMIN_HOST, DEFAULT_DEVELOPER_HOST, ThreescaleDouble } from './threescale.js';

describe('3scale Admin API double', function () {
  this.timeout(20_000);
  let threescale: ThreescaleDouble;

  beforeEach(async () => {
    threescale = await ThreescaleDouble.start({ accessToken: 'tok-rw' });
    threescale.addToken('tok-ro', 'ro');
  });
  afterEach(async () => {
    await threescale.stop();
  });

  const call = (method: string, path: string, options: { form?: Record<string, string>; json?: unknown; host?: string; headers?: Record<string, string> } = {}) => {
    const headers: Record<string, string> = { host: options.host ?? DEFAULT_ADMIN_HOST, ...options.headers };
    let body: string | undefined;
    if (options.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(options.form).toString();
    } else if (options.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(options.json);
    }
    return send(threescale.port, { method, path, headers, ...(body !== undefined ? { body } : {}) });
  };
  const withToken = (path: string, token = 'tok-rw') => `${path}${path.includes('?') ? '&' : '?'}access_token=${token}`;

  function seed() {
    const service = threescale.addService({ name: 'MLaaS' });
    const basic = threescale.addPlan(service.id, { name: 'Basic', default: true });
    const pro = threescale.addPlan(service.id, { name: 'Pro' });
    const other = threescale.addService({ name: 'Other' });
    threescale.addPlan(other.id, { name: 'Other default', default: true });
    threescale.addService({ name: 'No default plan' });
    return { service, basic, pro, other };
  }

  it('finds the tenant by Host: 403 on the developer portal host, 404 on an unknown one', async () => {
    seed();
    assert.equal((await call('GET', withToken('/admin/api/services.json'))).status, 200);
    const developer = await call('GET', withToken('/admin/api/services.json'), { host: DEFAULT_DEVELOPER_HOST });
    assert.equal(developer.status, 403);
    assert.deepEqual(developer.json(), { error: 'Access denied' });
    const unknown = await call('GET', withToken('/admin/api/services.json'), { host: 'elsewhere.test' });
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.json(), { status: 'Not found' });
  });

  it('takes access_token from the query, a form or JSON body and Basic auth, never from Bearer', async () => {
    seed();
    assert.equal((await call('GET', '/admin/api/services.json')).status, 403);
    assert.deepEqual((await call('GET', '/admin/api/services.json')).json(), { error: 'Access denied' });
    assert.equal((await call('GET', withToken('/admin/api/services.json', 'nope'))).status, 403);
    const basicUser = Buffer.from('tok-rw:').toString('base64');
    const basicPassword = Buffer.from(':tok-rw').toString('base64');
    assert.equal((await call('GET', '/admin/api/services.json', { headers: { authorization: `Basic ${basicUser}` } })).status, 200);
    assert.equal((await call('GET', '/admin/api/services.json', { headers: { authorization: `Basic ${basicPassword}` } })).status, 200);
    assert.equal((await call('GET', '/admin/api/services.json', { headers: { authorization: 'Bearer tok-rw' } })).status, 403);
    const signup = { org_name: 'a', username: 'alice', email: 'a@x.test', password: 'pw' };
    assert.equal((await call('POST', '/admin/api/signup.json', { json: { ...signup, access_token: 'tok-rw' } })).status, 201);
    const readOnly = await call('POST', '/admin/api/signup.json', { form: { ...signup, username: 'bob', email: 'b@x.test', access_token: 'tok-ro' } });
    assert.equal(readOnly.status, 403);
    assert.deepEqual(readOnly.json(), { error: 'Your access token does not have the correct permissions' });
  });

  it('wraps resources in their type name; plans in {"plans":[{"application_plan":…}]}', async () => {
    const { service, basic } = seed();
    const services = (await call('GET', withToken('/admin/api/services.json'))).json<{ services: { service: { id: number; backend_version: string } }[] }>();
    assert.equal(services.services[0]!.service.id, service.id);
    assert.equal(services.services[0]!.service.backend_version, '1');
    assert.notProperty(services, 'metadata', 'one page: no metadata');
    const plans = (await call('GET', withToken(`/admin/api/services/${service.id}/application_plans.json`))).json<{ plans: { application_plan: { id: number; default: boolean } }[] }>();
    assert.deepEqual(
      plans.plans.map((p) => [p.application_plan.id, p.application_plan.default]),
      [
        [basic.id, true],
        [basic.id + 1, false],
      ],
    );
    const metrics = (await call('GET', withToken(`/admin/api/services/${service.id}/metrics.json`))).json<{ metrics: { metric: { system_name: string } }[] }>();
    assert.equal(metrics.metrics[0]!.metric.system_name, 'hits');
    assert.equal((await call('GET', withToken('/admin/api/services/99999/application_plans.json'))).status, 404);
  });

  it('signs up with 201 and an account without users or apps, and creates an "API signup" app per default plan', async () => {
    const { service, pro, other } = seed();
    const signup = await call('POST', '/admin/api/signup.json', {
      form: { access_token: 'tok-rw', org_name: 'Alice', username: 'alice', email: 'alice@x.test', password: 'pw', application_plan_id: String(pro.id) },
    });
    assert.equal(signup.status, 201);
    const account = signup.json<{ account: Record<string, unknown> }>().account;
    assert.equal(account['org_name'], 'Alice');
    assert.notProperty(account, 'users');
    assert.notProperty(account, 'applications');
    const apps = (await call('GET', withToken(`/admin/api/accounts/${account['id']}/applications.json`))).json<{ applications: { application: Record<string, unknown> }[] }>();
    const byService = new Map(apps.applications.map((a) => [a.application['service_id'], a.application]));
    assert.equal(apps.applications.length, 2, 'two services have a default plan; the third none');
    assert.include(byService.get(service.id), { name: 'API signup', plan_id: pro.id, state: 'live', enabled: true });
    assert.match(String(byService.get(service.id)!['user_key']), /^[0-9a-f]{32}$/);
    assert.include(byService.get(other.id), { name: 'API signup' });

    const duplicate = await call('POST', '/admin/api/signup.json', { form: { access_token: 'tok-rw', org_name: 'x', username: 'alice', email: 'other@x.test', password: 'pw' } });
    assert.equal(duplicate.status, 422);
    assert.deepEqual(duplicate.json(), { errors: { username: ['has already been taken'] } });
    const unknownPlan = await call('POST', '/admin/api/signup.json', {
      form: { access_token: 'tok-rw', org_name: 'x', username: 'carol', email: 'c@x.test', password: 'pw', application_plan_id: '424242' },
    });
    assert.equal(unknownPlan.status, 404);
  });

  it('finds accounts by username first, then email; no match and no parameters are 404', async () => {
    seed();
    const alice = threescale.addAccount({ org_name: 'Alice', username: 'alice', email: 'alice@x.test' });
    const byUsername = await call('GET', withToken('/admin/api/accounts/find.json?username=alice'));
    assert.equal(byUsername.json<{ account: { id: number } }>().account.id, alice.id);
    assert.equal((await call('GET', withToken('/admin/api/accounts/find.json?email=alice%40x.test'))).status, 200);
    const mismatch = await call('GET', withToken('/admin/api/accounts/find.json?username=nobody&email=alice%40x.test'));
    assert.equal(mismatch.status, 404, 'a non-matching username wins over a matching email');
    assert.deepEqual(mismatch.json(), { status: 'Not found' });
    assert.equal((await call('GET', withToken('/admin/api/accounts/find.json'))).status, 404);
  });

  it('creates (201), reads, changes the user_key (PUT), suspends, resumes and deletes (200, empty) applications', async () => {
    const { basic } = seed();
    const account = threescale.addAccount({ org_name: 'Bob', username: 'bob', email: 'bob@x.test' });
    const base = `/admin/api/accounts/${account.id}/applications`;
    const created = await call('POST', `${base}.json`, { form: { access_token: 'tok-rw', plan_id: String(basic.id), name: 'mine' } });
    assert.equal(created.status, 201);
    const app = created.json<{ application: { id: number; user_key: string; state: string } }>().application;
    assert.match(app.user_key, /^[0-9a-f]{32}$/);

    const changed = await call('PUT', `${base}/${app.id}.json`, { form: { access_token: 'tok-rw', user_key: 'my-own.key_1' } });
    assert.equal(changed.status, 200);
    assert.equal(changed.json<{ application: { user_key: string } }>().application.user_key, 'my-own.key_1');
    const bad = await call('PUT', `${base}/${app.id}.json`, { form: { access_token: 'tok-rw', user_key: 'has spaces' } });
    assert.equal(bad.status, 422);
    assert.deepEqual(bad.json(), { errors: { user_key: ['is invalid'] } });
    const other = threescale.addApplication(account.id, basic.id, { user_key: 'taken-key-000000' });
    const taken = await call('PUT', `${base}/${app.id}.json`, { form: { access_token: 'tok-rw', user_key: other.user_key! } });
    assert.deepEqual(taken.json(), { errors: { user_key: ['has already been taken'] } });

    const suspended = await call('PUT', `${base}/${app.id}/suspend.json`, { form: { access_token: 'tok-rw' } });
    assert.include(suspended.json<{ application: object }>().application, { state: 'suspended', enabled: false });
    assert.equal((await call('PUT', `${base}/${app.id}/suspend.json`, { form: { access_token: 'tok-rw' } })).status, 422, 'invalid transition');
    assert.include((await call('PUT', `${base}/${app.id}/resume.json`, { form: { access_token: 'tok-rw' } })).json<{ application: object }>().application, { state: 'live' });

    const deleted = await call('DELETE', withToken(`${base}/${app.id}.json`));
    assert.equal(deleted.status, 200);
    assert.equal(deleted.body, '');
    const gone = await call('GET', withToken(`${base}/${app.id}.json`));
    assert.equal(gone.status, 404);
    assert.deepEqual(gone.json(), { status: 'Not found' });
    assert.equal((await call('GET', withToken(`/admin/api/accounts/${account.id + 1000}/applications/${other.id}.json`))).status, 404, 'another account');

    const noPlan = await call('POST', `${base}.json`, { form: { access_token: 'tok-rw', name: 'x' } });
    assert.equal(noPlan.status, 400);
    assert.equal(noPlan.body, 'Required parameter missing: plan_id');
    assert.equal((await call('POST', `${base}.json`, { form: { access_token: 'tok-rw', plan_id: '999999', name: 'x' } })).status, 404);
    assert.deepEqual((await call('POST', `${base}.json`, { form: { access_token: 'tok-rw', plan_id: String(basic.id), name: '' } })).json(), { errors: { name: ["can't be blank"] } });
  });

  it('starts applications on an approval-required plan pending, however created; only accept makes them live', async () => {
    const { service, basic } = seed();
    const gated = threescale.addPlan(service.id, { name: 'Gated', approval_required: true });
    const plans = (await call('GET', withToken(`/admin/api/services/${service.id}/application_plans.json`))).json<{ plans: { application_plan: { id: number; approval_required: boolean } }[] }>();
    assert.deepEqual(
      plans.plans.map((p) => [p.application_plan.id, p.application_plan.approval_required]),
      [
        [basic.id, false],
        [basic.id + 1, false],
        [gated.id, true],
      ],
    );

    const signup = await call('POST', '/admin/api/signup.json', {
      form: { access_token: 'tok-rw', org_name: 'Pat', username: 'pat', email: 'pat@x.test', password: 'pw', application_plan_id: String(gated.id) },
    });
    assert.equal(signup.status, 201);
    const accountId = signup.json<{ account: { id: number } }>().account.id;
    const signupApps = threescale.applicationsOf(accountId).filter((a) => a.service_id === service.id);
    assert.deepEqual(
      signupApps.map((a) => [a.name, a.state]),
      [['API signup', 'pending']],
      'signup on a gated plan leaves its application pending too',
    );
    const listed = await call('GET', withToken(`/admin/api/accounts/${accountId}/applications.json?state=pending`));
    assert.deepEqual(
      listed.json<{ applications: { application: { id: number } }[] }>().applications.map((a) => a.application.id),
      [signupApps[0]!.id],
    );

    const base = `/admin/api/accounts/${accountId}/applications`;
    const created = await call('POST', `${base}.json`, { form: { access_token: 'tok-rw', plan_id: String(gated.id), name: 'waiting' } });
    assert.equal(created.status, 201);
    const app = created.json<{ application: { id: number; state: string; enabled: boolean; user_key: string } }>().application;
    assert.include(app, { state: 'pending', enabled: false });
    assert.match(app.user_key, /^[0-9a-f]{32}$/, 'a pending application has its user_key already');
    assert.include(threescale.addApplication(accountId, basic.id), { state: 'live' }, 'a plan without approval: live at once');

    const invalid = (event: string) => ({ errors: { state: [`cannot transition via "${event}"`] } });
    for (const event of ['suspend', 'resume']) {
      const refused = await call('PUT', `${base}/${app.id}/${event}.json`, { form: { access_token: 'tok-rw' } });
      assert.equal(refused.status, 422, `${event} of a pending application`);
      assert.deepEqual(refused.json(), invalid(event));
    }
    assert.equal(threescale.applications.get(app.id)!.state, 'pending');
    assert.equal((await call('PUT', `${base}/${app.id}/reject.json`, { form: { access_token: 'tok-rw' } })).status, 404, 'the Admin API has no application reject');
    const readOnly = await call('PUT', `${base}/${app.id}/accept.json`, { form: { access_token: 'tok-ro' } });
    assert.equal(readOnly.status, 403, 'accept is a write');

    const accepted = await call('PUT', `${base}/${app.id}/accept.json`, { form: { access_token: 'tok-rw' } });
    assert.equal(accepted.status, 200);
    assert.include(accepted.json<{ application: object }>().application, { id: app.id, state: 'live', enabled: true });
    const again = await call('PUT', `${base}/${app.id}/accept.json`, { form: { access_token: 'tok-rw' } });
    assert.equal(again.status, 422, 'only a pending application can be accepted');
    assert.deepEqual(again.json(), invalid('accept'));
    assert.equal((await call('PUT', `/admin/api/accounts/${accountId}/applications/999999/accept.json`, { form: { access_token: 'tok-rw' } })).status, 404);

    assert.include(threescale.acceptApplication(signupApps[0]!.id), { state: 'live' }, 'the seeding API accepts the same way');
    assert.throws(() => threescale.acceptApplication(signupApps[0]!.id), /422/);
  });

  it('pages applications (max 500, bad values fall back) with metadata only when there is more than one page', async () => {
    const { service, basic, other } = seed();
    const account = threescale.addAccount({ org_name: 'Many', username: 'many', email: 'many@x.test' });
    for (let i = 0; i < 501; i++) threescale.addApplication(account.id, basic.id);
    threescale.addApplication(account.id, threescale.addPlan(other.id, { name: 'o' }).id);
    const page = (query: string) => call('GET', withToken(`/admin/api/applications.json?service_id=${service.id}${query}`));
    const first = (await page('')).json<{ applications: unknown[]; metadata: Record<string, number> }>();
    assert.lengthOf(first.applications, 500);
    assert.deepEqual(first.metadata, { per_page: 500, total_entries: 501, total_pages: 2, current_page: 1 });
    const second = (await page('&page=2&per_page=1000')).json<{ applications: unknown[]; metadata: Record<string, number> }>();
    assert.lengthOf(second.applications, 1);
    assert.equal(second.metadata['per_page'], 500, 'per_page above the maximum falls back to 500');
    assert.equal((await page('&page=0')).json<{ metadata: { current_page: number } }>().metadata.current_page, 1);
    const small = (await call('GET', withToken(`/admin/api/applications.json?service_id=${other.id}`))).json<object>();
    assert.notProperty(small, 'metadata');

    for (let i = 0; i < 51; i++) threescale.addLimit(basic.id, 'minute', i + 1);
    const limits = (await call('GET', withToken(`/admin/api/application_plans/${basic.id}/limits.json`))).json<{ limits: unknown[]; metadata: { per_page: number } }>();
    assert.lengthOf(limits.limits, 50, 'limits page at 50');
    assert.equal(limits.metadata.per_page, 50);
  });

  it('fails the next calls on demand (5xx, timeouts, drops; before or after the change) and logs every request', async () => {
    const { basic } = seed();
    const account = threescale.addAccount({ org_name: 'F', username: 'f', email: 'f@x.test' });
    threescale.failNext(1, { kind: 'status', status: 503 });
    assert.equal((await call('GET', withToken('/admin/api/services.json'))).status, 503);
    assert.equal((await call('GET', withToken('/admin/api/services.json'))).status, 200);

    threescale.failNext(1, { kind: 'drop', phase: 'after', match: (r) => r.method === 'POST' });
    const dropped = await call('POST', `/admin/api/accounts/${account.id}/applications.json`, { form: { access_token: 'tok-rw', plan_id: String(basic.id), name: 'lost' } }).then(
      () => 'answered',
      (error: NodeJS.ErrnoException) => error.code,
    );
    assert.equal(dropped, 'ECONNRESET');
    assert.lengthOf(threescale.applicationsOf(account.id), 1, 'applied, then the answer was lost');

    threescale.failNext(1, { kind: 'timeout' });
    const pending: Promise<TestResponse | string> = call('GET', withToken('/admin/api/services.json')).catch(() => 'cut');
    await new Promise((r) => setTimeout(r, 100));
    await threescale.down();
    assert.equal(await pending, 'cut', 'a hung call ends only when the double goes down');
    const refused = await call('GET', withToken('/admin/api/services.json')).catch((error: NodeJS.ErrnoException) => error.code);
    assert.equal(refused, 'ECONNREFUSED');
    await threescale.up();
    assert.equal((await call('GET', withToken('/admin/api/services.json'))).status, 200);

    const logged = threescale.requestsTo('POST', /\/applications\.json$/)[0]!;
    assert.equal(logged.body['name'], 'lost');
    assert.equal(logged.host, DEFAULT_ADMIN_HOST);
    assert.equal(logged.fault, 'drop');
  });
});
