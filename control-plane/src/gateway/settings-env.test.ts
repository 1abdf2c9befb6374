import { assert } from 'chai';
import { DEFAULT_IDENTITY_HEADERS } from '../../../authz-service/src/core/identity-headers.js';
import { parseAuthzConfig } from '../../../authz-service/src/config.js';
import { DEFAULT_GATEWAY_SETTINGS } from './settings.js';
import { parseGatewaySettings } from './settings-env.js';

describe('gateway settings from the environment', () => {
  it('defaults to the compose names of the authz-service and the "web" entry point', () => {
    const result = parseGatewaySettings({});
    assert.isTrue(result.ok);
    assert.deepEqual(result.ok && result.settings, DEFAULT_GATEWAY_SETTINGS);
    assert.isTrue(result.ok && Object.isFrozen(result.settings));
  });

  it('reads the authz URL, the ext_authz address, the entry points and the identity headers', () => {
    const result = parseGatewaySettings({
      PORTCULLIS_GATEWAY_AUTHZ_URL: 'https://authz.example:8443/portcullis/',
      PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: '[::1]:9191',
      PORTCULLIS_GATEWAY_ENTRYPOINTS: ' web ,websecure,web',
      PORTCULLIS_IDENTITY_HEADERS: '{"subject":"X-User-Id","consumer":"X-Consumer-ID"}',
    });
    assert.isTrue(result.ok, result.ok ? '' : result.errors.join('\n'));
    if (!result.ok) return;
    assert.equal(result.settings.authzHttpUrl, 'https://authz.example:8443/portcullis/');
    assert.deepEqual(result.settings.extAuthz, { host: '::1', port: 9191 });
    assert.deepEqual(result.settings.entryPoints, ['web', 'websecure']);
    assert.deepEqual(result.settings.identityHeaders, { ...DEFAULT_IDENTITY_HEADERS, subject: 'X-User-Id', consumer: 'X-Consumer-ID' });
  });

  it('reads PORTCULLIS_IDENTITY_HEADERS exactly as the authz-service does', () => {
    const raw = '{"plan":"X-Plan","decisionId":"X-Request-Decision"}';
    const gateway = parseGatewaySettings({ PORTCULLIS_IDENTITY_HEADERS: raw });
    const authz = parseAuthzConfig({ PORTCULLIS_IDENTITY_HEADERS: raw, PORTCULLIS_EXT_AUTHZ_PORT: 'off' });
    assert.isTrue(gateway.ok && authz.ok);
    assert.deepEqual(gateway.ok && gateway.settings.identityHeaders, authz.ok && authz.config.identityHeaders);
    const bad = '{"subject":"Authorization"}';
    assert.deepEqual(
      (parseGatewaySettings({ PORTCULLIS_IDENTITY_HEADERS: bad }) as { errors: readonly string[] }).errors,
      (parseAuthzConfig({ PORTCULLIS_IDENTITY_HEADERS: bad }) as { errors: readonly string[] }).errors,
    );
  });

  it('reports every problem at once, naming the variable', () => {
    const result = parseGatewaySettings({
      PORTCULLIS_GATEWAY_AUTHZ_URL: 'ftp://authz',
      PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: 'authz-service',
      PORTCULLIS_GATEWAY_ENTRYPOINTS: 'web,we b',
      PORTCULLIS_IDENTITY_HEADERS: '{"nope":"X-Y"}',
    });
    assert.isFalse(result.ok);
    if (result.ok) return;
    for (const name of ['GATEWAY_AUTHZ_URL', 'GATEWAY_EXT_AUTHZ_ADDRESS', 'GATEWAY_ENTRYPOINTS', 'IDENTITY_HEADERS']) {
      assert.isTrue(result.errors.some((e) => e.startsWith(`PORTCULLIS_${name}`)), name);
    }
  });

  it('refuses authz URLs the renderers would turn into a wrong address', () => {
    for (const url of ['http://authz-service:8181/forward-auth', 'http://user:pw@authz:8181', 'http://authz:8181/?x=1', 'not a url', 'http://authz-service:8181/forward-auth/']) {
      const result = parseGatewaySettings({ PORTCULLIS_GATEWAY_AUTHZ_URL: url });
      assert.isFalse(result.ok, url);
    }
    for (const address of ['authz:0', 'authz:65536', ':9191', 'a b:1']) assert.isFalse(parseGatewaySettings({ PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: address }).ok, address);
  });
});
