import { assert } from 'chai';
import { forEachBackend } from '../../testing/harness.js';
import { compiledState, judgeKey } from '../../testing/verify.js';

const ISSUER = 'https://sso.example.org/realms/ml';

forEachBackend('catalog resources', (harness) => {
  it('stores services with everything the data plane reads, by name or id', async () => {
    const h = harness();
    const created = await h.call('POST', '/v1/services', {
      body: {
        name: 'chat',
        display_name: 'Chat completions',
        description: 'LLM chat',
        upstream_urls: ['http://10.0.0.1:8000', 'http://10.0.0.2:8000'],
        match: { host: 'API.example.org', path_prefix: '/v1/chat' },
        credentials: ['api_key'],
        query_key: 'user_key',
        fail_mode: 'closed',
        mode: 'shadow',
        scopes: ['chat'],
        routes: [{ name: 'completions', path_prefix: '/v1/chat/completions', methods: ['post'], scopes: ['chat:write'], cost: 5 }],
      },
    });
    assert.equal(created.status, 201, created.text);
    assert.match(created.body.id, /^svc_/);
    assert.equal(created.body.match.host, 'api.example.org');
    assert.deepEqual(created.body.routes[0].methods, ['POST']);
    assert.deepEqual((await h.call('GET', '/v1/services/chat')).body, created.body);
    assert.deepEqual((await h.call('GET', `/v1/services/${created.body.id}`)).body, created.body);

    const state = await compiledState(h);
    const chat = state.services.get('chat')!;
    assert.equal(chat.spec.fail_mode, 'closed');
    assert.equal(chat.spec.mode, 'shadow');
    assert.equal(chat.spec.query_key, 'user_key');
    assert.notProperty(chat.spec, 'display_name');
    const match = state.matchRoute('api.example.org', '/v1/chat/completions', 'POST');
    assert.equal(match.kind === 'matched' && match.route.ref.route, 'completions');
    assert.equal(match.kind === 'matched' && match.route.cost, 5);

    const listed = await h.call('GET', '/v1/services?q=cha');
    assert.deepEqual(
      listed.body.items.map((s: { name: string }) => s.name),
      ['chat'],
    );
  });

  it('refuses a service change the data plane could not load, and stores nothing', async () => {
    const h = harness();
    const before = (await h.call('GET', '/v1/state')).body;
    const clash = await h.call('POST', '/v1/services', { body: { name: 'chat-2', upstream_url: 'http://10.0.0.3', match: { host: 'api.example.org', path_prefix: '/v1/chat' } } });
    assert.equal(clash.status, 409, clash.text);
    assert.equal(clash.body.code, 'conflict');
    assert.match(clash.body.errors[0].path, /^state\.services\[\d\]\.match$/);
    const outside = await h.call('POST', '/v1/services', {
      body: { name: 'img', upstream_url: 'http://10.0.0.4', match: { path_prefix: '/img' }, routes: [{ name: 'x', path_prefix: '/elsewhere' }] },
    });
    assert.equal(outside.status, 409);
    const duplicateName = await h.call('POST', '/v1/services', { body: { name: 'chat', upstream_url: 'http://10.0.0.5', match: { path_prefix: '/other' } } });
    assert.equal(duplicateName.status, 409);
    assert.equal((await h.call('GET', '/v1/services/chat-2')).status, 404);
    assert.deepEqual((await h.call('GET', '/v1/state')).body, before, 'nothing changed, not even the revision');
  });

  it('patches services with merge semantics', async () => {
    const h = harness();
    const patched = await h.call('PATCH', '/v1/services/chat', { body: { upstream_url: 'http://10.0.0.9:8000', description: null, mode: 'enforce' } });
    assert.equal(patched.status, 200, patched.text);
    assert.deepEqual(patched.body.upstream_urls, ['http://10.0.0.9:8000']);
    assert.notProperty(patched.body, 'description');
    assert.equal(patched.body.mode, 'enforce');
    assert.equal(patched.body.fail_mode, 'closed', 'untouched fields keep their values');
    assert.equal(patched.body.routes.length, 1);
    const bad = await h.call('PATCH', '/v1/services/chat', { body: { upstream_url: 'http://a', upstream_urls: ['http://b'] } });
    assert.equal(bad.status, 400);
  });

  it('keeps plans with several windows and a quota; the quota becomes one more window in the state', async () => {
    const h = harness();
    const plan = await h.call('POST', '/v1/plans', {
      body: { name: 'pro', description: 'paid', limits: [{ window: '1s', requests: 20 }, { window: '1h', requests: 5000 }], bucket: 'key', quota: { requests: 100000, period: '30d' } },
    });
    assert.equal(plan.status, 201, plan.text);
    const state = await compiledState(h);
    assert.deepEqual(
      state.plans.get('pro')!.limits.map((l) => [l.window, l.requests]),
      [
        ['1s', 20],
        ['1h', 5000],
        ['30d', 100000],
      ],
    );
    assert.equal(state.plans.get('pro')!.bucket, 'key');
    const twice = await h.call('POST', '/v1/plans', { body: { name: 'dup', limits: [{ window: '1m', requests: 1 }], quota: { requests: 5, period: '1m' } } });
    assert.equal(twice.status, 400);
    assert.equal(twice.body.errors[0].path, 'body.quota.period');
    const patched = await h.call('PATCH', '/v1/plans/pro', { body: { quota: null } });
    assert.notProperty(patched.body, 'quota');
    assert.lengthOf(patched.body.limits, 2);

    assert.equal((await h.call('PATCH', '/v1/services/chat', { body: { plan: 'pro' } })).body.plan, 'pro');
    const inUse = await h.call('DELETE', '/v1/plans/pro');
    assert.equal(inUse.status, 409);
    assert.equal((await h.call('PATCH', '/v1/services/chat', { body: { plan: null } })).status, 200);
    assert.equal((await h.call('DELETE', '/v1/plans/pro')).status, 204);
    assert.equal((await h.call('GET', '/v1/plans/pro')).status, 404);
    const unknownPlan = await h.call('PATCH', '/v1/services/chat', { body: { plan: 'nope' } });
    assert.equal(unknownPlan.status, 400);
    assert.equal(unknownPlan.body.errors[0].path, 'body.plan');
  });

  it('trusts issuers with the full issuer spec and refuses a declared-twice alias', async () => {
    const h = harness();
    const issuer = await h.call('POST', '/v1/issuers', {
      body: { issuer: ISSUER, audiences: ['ml-api'], authorized_parties: ['ml-portal'], algorithms: ['RS256', 'ES256'], aliases: ['http://keycloak:8080/realms/ml'], consumer_mapping: 'required' },
    });
    assert.equal(issuer.status, 201, issuer.text);
    assert.match(issuer.body.id, /^iss_/);
    const state = await compiledState(h);
    assert.equal(state.issuers[0]!.issuer, ISSUER);
    assert.equal(state.issuers[0]!.consumer_mapping, 'required');
    assert.equal((await h.call('POST', '/v1/issuers', { body: { issuer: ISSUER } })).status, 409);
    assert.equal((await h.call('POST', '/v1/issuers', { body: { issuer: 'https://other.example', aliases: ['http://keycloak:8080/realms/ml'] } })).status, 409);
    const patched = await h.call('PATCH', `/v1/issuers/${issuer.body.id}`, { body: { jwks_uri: `${ISSUER}/protocol/openid-connect/certs`, consumer_mapping: 'auto' } });
    assert.equal(patched.status, 200, patched.text);
    assert.equal(patched.body.consumer_mapping, 'auto');
    assert.deepEqual(patched.body.audiences, ['ml-api']);
    assert.equal((await h.call('PATCH', `/v1/issuers/${issuer.body.id}`, { body: { jwks_uri: null } })).body.jwks_uri, undefined);
  });

  it('links consumers to OIDC subjects, filters by them, and disabling a consumer stops its keys', async () => {
    const h = harness();
    const consumer = await h.call('POST', '/v1/consumers', { body: { name: 'Bob Ödegaard', subject: { issuer: ISSUER, sub: 'bob' } } });
    assert.equal(consumer.status, 201, consumer.text);
    const state = await compiledState(h);
    assert.equal(state.consumerBySubject(ISSUER, 'bob')?.id, consumer.body.id);
    const found = await h.call('GET', `/v1/consumers?issuer=${encodeURIComponent(ISSUER)}&sub=bob`);
    assert.deepEqual(
      found.body.items.map((c: { id: string }) => c.id),
      [consumer.body.id],
    );
    assert.equal((await h.call('POST', '/v1/consumers', { body: { name: 'Impostor', subject: { issuer: ISSUER, sub: 'bob' } } })).status, 409);

    const linked = await h.call('POST', `/v1/consumers/${consumer.body.id}/subjects`, { body: { issuer: ISSUER, sub: 'bob-2' } });
    assert.lengthOf(linked.body.subjects, 2);
    const unlinked = await h.call('DELETE', `/v1/consumers/${consumer.body.id}/subjects?issuer=${encodeURIComponent(ISSUER)}&sub=bob-2`);
    assert.lengthOf(unlinked.body.subjects, 1);

    const key = (await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: ['chat'] } })).body;
    assert.equal(await judgeKey(h, key.key, h.clock.now(), 'chat'), 'resolved');
    assert.equal((await h.call('PATCH', `/v1/consumers/${consumer.body.id}`, { body: { disabled: true } })).body.disabled, true);
    assert.equal(await judgeKey(h, key.key, h.clock.now(), 'chat'), 'forbidden');

    // a service named by a key cannot be deleted out from under it
    assert.equal((await h.call('DELETE', '/v1/services/chat')).status, 409);
    assert.equal((await h.call('DELETE', `/v1/consumers/${consumer.body.id}`)).status, 204);
    assert.equal((await h.call('GET', `/v1/keys/${key.id}`)).status, 404, 'keys go with their consumer');
    assert.equal((await h.call('DELETE', '/v1/services/chat')).status, 204);
  });

  it('numbers every state change with a growing revision and records it in the outbox', async () => {
    const h = harness();
    const r1 = (await h.call('GET', '/v1/state')).body.revision;
    await h.call('POST', '/v1/plans', { body: { name: 'rev-test', limits: [] } });
    const r2 = (await h.call('GET', '/v1/state')).body.revision;
    assert.equal(r2, r1 + 1);
    const change = await h.cp.db('state_changes').where({ revision: r2 }).first();
    assert.include(change, { resource_type: 'plan', action: 'create' });
    await h.call('GET', '/v1/plans');
    assert.equal((await h.call('GET', '/v1/state')).body.revision, r2, 'reads do not move it');
  });
});
