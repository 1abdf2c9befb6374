import { assert } from 'chai';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { inspect } from 'node:util';
import { tlsFiles } from '../../test/harness/tls.js';
import { DEFAULT_ADMIN_ROLE, DEFAULT_PORT, parseConfig } from './config.js';

const PEPPER = 'p'.repeat(40);

describe('control-plane config', () => {
  it('defaults to embedded PGlite in ./data on port 8080', () => {
    const result = parseConfig({});
    assert.isTrue(result.ok);
    if (!result.ok) return;
    assert.deepEqual(result.config.database, { kind: 'pglite', dataDir: path.resolve('./data') });
    assert.equal(result.config.port, DEFAULT_PORT);
    assert.equal(result.config.adminRole, DEFAULT_ADMIN_ROLE);
    assert.equal(result.config.logLevel, 'info');
    assert.isUndefined(result.config.keyPepper);
    assert.isTrue(Object.isFrozen(result.config));
  });

  it('reports every problem at once', () => {
    const result = parseConfig({
      PORTCULLIS_DATABASE_URL: 'mysql://nope',
      PORTCULLIS_CONTROL_PLANE_PORT: '70000',
      PORTCULLIS_KEY_PEPPER: 'short',
      PORTCULLIS_BOOTSTRAP_ADMIN_KEY: 'too short',
      PORTCULLIS_ADMIN_ROLE: 'has space',
      PORTCULLIS_LOG_LEVEL: 'loud',
    });
    assert.isFalse(result.ok);
    if (result.ok) return;
    for (const name of ['DATABASE_URL', 'CONTROL_PLANE_PORT', 'KEY_PEPPER', 'BOOTSTRAP_ADMIN_KEY', 'ADMIN_ROLE', 'LOG_LEVEL']) {
      assert.isTrue(
        result.errors.some((e) => e.startsWith(`PORTCULLIS_${name}`)),
        name,
      );
    }
    assert.notInclude(result.errors.join('\n'), 'too short', 'secrets are not echoed');
  });

  it('refuses Postgres without a pepper or a secret store, and accepts either', () => {
    const url = 'postgres://u:pw@db/portcullis';
    const without = parseConfig({ PORTCULLIS_DATABASE_URL: url });
    assert.isFalse(without.ok);
    assert.match(without.ok ? '' : without.errors[0]!, /PORTCULLIS_KEY_PEPPER: required/);
    assert.isTrue(parseConfig({ PORTCULLIS_DATABASE_URL: url, PORTCULLIS_KEY_PEPPER: PEPPER }).ok);
    const store = parseConfig({ PORTCULLIS_DATABASE_URL: url, PORTCULLIS_MASTER_KEY: `m1:${randomBytes(32).toString('base64')}` });
    assert.isTrue(store.ok, store.ok ? '' : store.errors.join());
    assert.equal(store.ok && store.config.secrets?.provider, 'local');
    const badStore = parseConfig({ PORTCULLIS_DATABASE_URL: url, PORTCULLIS_KMS_PROVIDER: 'aws-kms' });
    assert.isFalse(badStore.ok);
    assert.isTrue(!badStore.ok && badStore.errors.some((e) => e.includes('PORTCULLIS_KMS_KEY_ID')));
  });

  it('never shows a secret when the config is logged or serialised', () => {
    const result = parseConfig({
      PORTCULLIS_DATABASE_URL: 'postgres://u:db-password-123@db/portcullis',
      PORTCULLIS_KEY_PEPPER: PEPPER,
      PORTCULLIS_BOOTSTRAP_ADMIN_KEY: 'b'.repeat(40),
    });
    assert.isTrue(result.ok);
    for (const text of [inspect(result, { depth: 10 }), JSON.stringify(result)]) {
      assert.notInclude(text, 'db-password-123');
      assert.notInclude(text, PEPPER);
      assert.notInclude(text, 'b'.repeat(40));
    }
  });

  it('takes a gateway token and the gateway settings, refusing a short token or one equal to the admin key', () => {
    const token = 'g'.repeat(40);
    const result = parseConfig({ PORTCULLIS_GATEWAY_TOKEN: token, PORTCULLIS_GATEWAY_AUTHZ_URL: 'http://authz:8181', PORTCULLIS_GATEWAY_ENTRYPOINTS: 'websecure' });
    assert.isTrue(result.ok, result.ok ? '' : result.errors.join());
    if (!result.ok) return;
    assert.equal(result.config.gatewayToken?.reveal(), token);
    assert.equal(result.config.gateway.authzHttpUrl, 'http://authz:8181');
    assert.deepEqual(result.config.gateway.entryPoints, ['websecure']);
    assert.notInclude(inspect(result, { depth: 10 }) + JSON.stringify(result), token);

    const short = parseConfig({ PORTCULLIS_GATEWAY_TOKEN: 'short secret', PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: 'nope' });
    assert.isFalse(short.ok);
    if (short.ok) return;
    assert.isTrue(short.errors.some((e) => e.startsWith('PORTCULLIS_GATEWAY_TOKEN: must be at least')));
    assert.isTrue(short.errors.some((e) => e.startsWith('PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS')));
    assert.notInclude(short.errors.join('\n'), 'short secret');
    const same = parseConfig({ PORTCULLIS_GATEWAY_TOKEN: token, PORTCULLIS_BOOTSTRAP_ADMIN_KEY: token });
    assert.isFalse(same.ok);
    assert.match(same.ok ? '' : same.errors.join(), /PORTCULLIS_GATEWAY_TOKEN: must differ/);
  });

  it('serves sync over TLS from the certificate and key files, mutual with a client CA; refuses half of it, or TLS without sync', () => {
    const files = tlsFiles();
    const token = { PORTCULLIS_SYNC_TOKEN: 's'.repeat(20) };
    const pair = { PORTCULLIS_SYNC_TLS_CERT_FILE: files.server.cert, PORTCULLIS_SYNC_TLS_KEY_FILE: files.server.key };
    const plain = parseConfig(token);
    assert.isTrue(plain.ok && plain.config.sync !== undefined && plain.config.sync.tls === undefined, 'plaintext stays the default');
    const tls = parseConfig({ ...token, ...pair, PORTCULLIS_SYNC_TLS_CLIENT_CA_FILE: files.ca });
    assert.isTrue(tls.ok, tls.ok ? '' : tls.errors.join());
    assert.isDefined(tls.ok && tls.config.sync?.tls?.clientCa);
    assert.notMatch(JSON.stringify(tls) + inspect(tls, { depth: 10 }), /BEGIN|MII/);

    // with the other problems, not instead of them
    const half = parseConfig({ ...token, PORTCULLIS_SYNC_TLS_CERT_FILE: files.server.cert, PORTCULLIS_SYNC_PORT: 'x', PORTCULLIS_LOG_LEVEL: 'loud' });
    assert.deepEqual(half.ok ? [] : half.errors.map((e) => e.split(':')[0]).sort(), ['PORTCULLIS_LOG_LEVEL', 'PORTCULLIS_SYNC_PORT', 'PORTCULLIS_SYNC_TLS_KEY_FILE']);
    const off = parseConfig(pair);
    assert.deepEqual(off.ok ? [] : off.errors, [
      'PORTCULLIS_SYNC_TLS_CERT_FILE, PORTCULLIS_SYNC_TLS_KEY_FILE: set, but state sync is off (PORTCULLIS_SYNC_TOKEN is not set)',
    ]);
    assert.isTrue(parseConfig({ ...token, PORTCULLIS_SYNC_TLS_CA_FILE: files.ca }).ok, 'the replicas’ variable is not the control plane’s business');
  });

  it('treats empty variables as unset', () => {
    const result = parseConfig({ PORTCULLIS_DATABASE_URL: '', PORTCULLIS_KEY_PEPPER: '', PORTCULLIS_CONTROL_PLANE_PORT: ' ' });
    assert.isTrue(result.ok);
    assert.equal(result.ok && result.config.database.kind, 'pglite');
  });
});
