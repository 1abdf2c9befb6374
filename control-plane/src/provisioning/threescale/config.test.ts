import { assert } from 'chai';
import { parseConfig } from '../../config.js';
import { DEFAULT_ACCESS_TOKEN_SECRET, parseThreescaleConfig } from './config.js';
import { limitsFromThreescale } from './plans.js';
import { identityOf } from './identity.js';

const MASTER_KEY = { PORTCULLIS_MASTER_KEY: `k1:${Buffer.alloc(32, 7).toString('base64')}` };

describe('3scale provisioning configuration', () => {
  it('is absent unless configured, and refuses a token without a configuration', () => {
    assert.deepEqual(parseThreescaleConfig({}), { errors: [] });
    assert.match(parseThreescaleConfig({ PORTCULLIS_THREESCALE_ACCESS_TOKEN: 'x' }).errors[0]!, /not configured/);
  });

  it('resolves per-service settings over global ones, and plans per service over global plans', () => {
    const yaml = `
admin_url: https://acme-admin.3scale.example.com/
timeout_ms: 5000
reconcile_interval_seconds: 900
plans:
  basic: { plan: free }
  pro: { plan: pro, limits: [{ window: 1m, requests: 600 }] }
services:
  mlaas:
    service_id: 2
    application_plan: basic
    plans:
      basic: { plan: starter }
  vision:
    service_id: "7"
    admin_url: https://other-admin.3scale.example.com
    access_token_secret: threescale/other
`;
    const { config, errors } = parseThreescaleConfig({ PORTCULLIS_THREESCALE_CONFIG: yaml, PORTCULLIS_THREESCALE_ACCESS_TOKEN: 'tok' });
    assert.deepEqual(errors, []);
    const mlaas = config!.services.get('mlaas')!;
    assert.deepInclude(mlaas, { service: 'mlaas', serviceId: '2', applicationPlan: 'basic' });
    assert.deepEqual(mlaas.connection, {
      adminUrl: 'https://acme-admin.3scale.example.com',
      tenantHost: 'acme-admin.3scale.example.com',
      accessTokenSecret: DEFAULT_ACCESS_TOKEN_SECRET,
      timeoutMs: 5000,
    });
    assert.deepEqual(mlaas.plans.get('basic'), { plan: 'starter' });
    assert.deepEqual(mlaas.plans.get('pro'), { plan: 'pro', limits: [{ window: '1m', requests: 600 }] });
    const vision = config!.services.get('vision')!;
    assert.deepInclude(vision.connection, { tenantHost: 'other-admin.3scale.example.com', accessTokenSecret: 'threescale/other' });
    assert.equal(config!.reconcileIntervalMs, 900_000);
    assert.equal(config!.seedAccessToken?.reveal(), 'tok');
    assert.notInclude(JSON.stringify(config!.seedAccessToken), 'tok');
    assert.isTrue(Object.isFrozen(config));
  });

  it('reports every problem at once, with its path', () => {
    const { config, errors } = parseThreescaleConfig({
      PORTCULLIS_THREESCALE_CONFIG: JSON.stringify({
        admin_url: 'ftp://x',
        timeout_ms: 5,
        plans: { basic: { plan: 'Not A Slug' } },
        services: { mlaas: { service_id: 'two' }, bad_name: { service_id: 3 } },
        extra: true,
      }),
    });
    assert.isUndefined(config);
    const text = errors.join('\n');
    for (const fragment of ['admin_url', 'timeout_ms', 'plans.basic.plan', 'services.mlaas.service_id', 'services.bad_name', 'extra']) assert.include(text, fragment);
    assert.isAtLeast(errors.length, 6);
  });

  it('refuses one 3scale service mapped twice, a host reached two ways, unreadable files and both sources at once', () => {
    const twice = parseThreescaleConfig({ PORTCULLIS_THREESCALE_CONFIG: JSON.stringify({ admin_url: 'https://a.test', services: { one: { service_id: 2 }, two: { service_id: 2 } } }) });
    assert.match(twice.errors.join(), /already mapped to "one"/);
    const hosts = parseThreescaleConfig({
      PORTCULLIS_THREESCALE_CONFIG: JSON.stringify({ admin_url: 'https://a.test', tenant_host: 'x.test', services: { one: { service_id: 2 }, two: { service_id: 3, admin_url: 'https://b.test', tenant_host: 'x.test' } } }),
    });
    assert.match(hosts.errors.join(), /already reached through https:\/\/a\.test/);
    const noUrl = parseThreescaleConfig({ PORTCULLIS_THREESCALE_CONFIG: JSON.stringify({ services: { one: { service_id: 2 } } }) });
    assert.match(noUrl.errors.join(), /services\.one\.admin_url: required/);
    const missing = parseThreescaleConfig({ PORTCULLIS_THREESCALE_CONFIG_FILE: '/nonexistent/3scale.yaml' }, () => {
      throw Object.assign(new Error('nope'), { code: 'ENOENT' });
    });
    assert.deepEqual(missing.errors, ['PORTCULLIS_THREESCALE_CONFIG_FILE (/nonexistent/3scale.yaml): cannot be read (ENOENT)']);
    assert.match(parseThreescaleConfig({ PORTCULLIS_THREESCALE_CONFIG: '{}', PORTCULLIS_THREESCALE_CONFIG_FILE: '/x' }).errors[0]!, /not both/);
    assert.match(parseThreescaleConfig({ PORTCULLIS_THREESCALE_CONFIG: '{ not yaml: [' }).errors[0]!, /not valid YAML/);
  });

  it('needs the secret store: the access token is never kept in plaintext', () => {
    const env = { PORTCULLIS_THREESCALE_CONFIG: JSON.stringify({ admin_url: 'https://a.test', services: { mlaas: { service_id: 2 } } }) };
    const without = parseConfig(env);
    assert.isFalse(without.ok);
    if (!without.ok) assert.match(without.errors.join(), /secret store/);
    const withStore = parseConfig({ ...env, ...MASTER_KEY });
    assert.isTrue(withStore.ok, withStore.ok ? '' : withStore.errors.join());
    if (withStore.ok) assert.equal(withStore.config.threescale?.services.size, 1);
  });
});

describe('3scale plan limits and identities', () => {
  it('maps hits limits per period to windows, strictest per window, leaving out eternity, other metrics and zero', () => {
    const limits = limitsFromThreescale(
      [
        { metric_id: '1', period: 'minute', value: 60 },
        { metric_id: '1', period: 'minute', value: 30 },
        { metric_id: '1', period: 'month', value: 100_000 },
        { metric_id: '1', period: 'week', value: 5000 },
        { metric_id: '1', period: 'year', value: 2e12 },
        { metric_id: '1', period: 'eternity', value: 10 },
        { metric_id: '1', period: 'hour', value: 0 },
        { metric_id: '2', period: 'day', value: 5 },
      ],
      '1',
    );
    assert.deepEqual(limits, [
      { window: '1m', requests: 30 },
      { window: '30d', requests: 100_000 },
      { window: '7d', requests: 5000 },
      { window: '365d', requests: 1_000_000_000 },
    ]);
    assert.deepEqual(limitsFromThreescale([{ metric_id: '1', period: 'day', value: 5 }], undefined), [], 'no hits metric: nothing');
  });

  it('derives a 3scale username and email from the consumer, stable and within 3scale rules', () => {
    assert.deepEqual(identityOf({ id: 'con_1', name: 'alice' }, 'users.test'), { username: 'alice', email: 'alice@users.test', realEmail: false });
    assert.deepEqual(identityOf({ id: 'con_1', name: 'bob@corp.test' }, 'users.test'), { username: 'bob@corp.test', email: 'bob@corp.test', realEmail: true });
    assert.equal(identityOf({ id: 'con_01abc', name: 'Zoë Smith' }, 'users.test').username, 'con_01abc');
    assert.equal(identityOf({ id: 'con_01abc', name: 'jo' }, 'users.test').username, 'con_01abc', 'too short for 3scale');
    const long = identityOf({ id: `jwt_${'x'.repeat(60)}`, name: '?' }, 'users.test');
    assert.match(long.username, /^pc-[0-9a-f]{24}$/);
    assert.equal(identityOf({ id: `jwt_${'x'.repeat(60)}`, name: '?' }, 'users.test').username, long.username);
  });
});
