/**
 * Test support for 3scale provisioning suites: a control plane configured against the Admin API double,
 * the Portcullis catalog those suites expect, and users who call the API with a key of their own.
 */
import { assert } from 'chai';
import { randomBytes } from 'node:crypto';
import type { ThreescaleDouble } from '../../../test/harness/threescale.js';
import type { Harness } from './harness.js';

export const EMAIL_DOMAIN = 'users.example.test';

/** Environment of a control plane whose `mlaas` service is provisioned through `serviceId` of the double. */
export function threescaleEnv(threescale: ThreescaleDouble, serviceId: number, overrides: Record<string, unknown> = {}): Record<string, string> {
  return {
    PORTCULLIS_MASTER_KEY: `k1:${randomBytes(32).toString('base64')}`,
    PORTCULLIS_THREESCALE_CONFIG: JSON.stringify({
      admin_url: threescale.baseUrl,
      tenant_host: threescale.adminHost,
      timeout_ms: 1500,
      signup_email_domain: EMAIL_DOMAIN,
      plans: { basic: { plan: 'free' }, pro: { plan: 'pro', limits: [{ window: '1h', requests: 1000 }] } },
      services: { mlaas: { service_id: serviceId } },
      ...overrides,
    }),
    PORTCULLIS_THREESCALE_ACCESS_TOKEN: threescale.accessToken,
  };
}

export interface User {
  readonly consumerId: string;
  /** A built-in key for the `console` service, to call the API as this user. */
  readonly login: string;
}

/** Portcullis plans `free` and `pro`; services `mlaas` (3scale) and `console` (built-in keys). */
export async function catalog(h: Harness): Promise<void> {
  for (const plan of [
    { name: 'free', limits: [{ window: '1s', requests: 5 }] },
    { name: 'pro', limits: [] },
  ]) {
    assert.equal((await h.call('POST', '/v1/plans', { body: plan })).status, 201);
  }
  for (const name of ['mlaas', 'console']) {
    const created = await h.call('POST', '/v1/services', { body: { name, upstream_url: `http://127.0.0.1:9/${name}`, match: { path_prefix: `/${name}` }, credentials: ['api_key'] } });
    assert.equal(created.status, 201, created.text);
  }
}

export async function user(h: Harness, name: string): Promise<User> {
  const consumer = await h.call('POST', '/v1/consumers', { body: { name } });
  assert.equal(consumer.status, 201, consumer.text);
  const key = await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: ['console'] } });
  assert.equal(key.status, 201, key.text);
  return { consumerId: consumer.body.id, login: key.body.key };
}

export const keysOf = async (h: Harness, consumerId: string) => (await h.cp.db('api_keys').where({ consumer_id: consumerId }).select('id')) as { id: string }[];

/** The 3scale application id a key mirrors. */
export const applicationOf = async (h: Harness, keyId: string): Promise<number> => Number((await h.cp.db('threescale_applications').where({ key_id: keyId }).first()).application_id);
