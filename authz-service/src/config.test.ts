import { expect } from 'chai';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { tlsFiles } from '../../test/harness/tls.js';
import { parseAuthzConfig } from './config.js';
import { DEFAULT_IDENTITY_HEADERS } from './core/identity-headers.js';
import { DEFAULT_TRUSTED_PROXIES } from './http/trusted-proxies.js';

const PEPPER = 'p'.repeat(40);

function ok(env: Record<string, string>) {
  const r = parseAuthzConfig(env);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.config;
}

describe('parseAuthzConfig', () => {
  it('applies documented defaults and freezes the result', () => {
    const c = ok({});
    expect(c).to.include({ port: 8181, host: '0.0.0.0', logLevel: 'info', allowLogSampleRate: 0.01, maxHeaderBytes: 16384, shutdownGraceMs: 10000, shutdownDrainMs: 0 });
    expect(c.trustedProxies).to.deep.equal(DEFAULT_TRUSTED_PROXIES);
    expect(c.identityHeaders).to.deep.equal(DEFAULT_IDENTITY_HEADERS);
    expect(c.stateFile).to.equal(undefined);
    expect(c.keyPepper).to.equal(undefined);
    expect(c.redisUrl).to.equal(undefined);
    expect(Object.isFrozen(c)).to.equal(true);
  });

  it('reads every variable', () => {
    const c = ok({
      PORTCULLIS_AUTHZ_PORT: '9000',
      PORTCULLIS_AUTHZ_HOST: '127.0.0.1',
      PORTCULLIS_TRUSTED_PROXIES: ' 127.0.0.1/32, ::1 ',
      PORTCULLIS_STATE_FILE: '/etc/portcullis/state.yaml',
      PORTCULLIS_KEY_PEPPER: PEPPER,
      PORTCULLIS_REDIS_URL: 'redis://:pw@redis:6379/0',
      PORTCULLIS_IDENTITY_HEADERS: '{"subject":"X-User-Id","consumer":"X-Consumer-ID"}',
      PORTCULLIS_LOG_LEVEL: 'debug',
      PORTCULLIS_ALLOW_LOG_SAMPLE_RATE: '0.5',
      PORTCULLIS_MAX_HEADER_BYTES: '8192',
      PORTCULLIS_SHUTDOWN_GRACE_MS: '0',
      PORTCULLIS_SHUTDOWN_DRAIN_MS: '1500',
    });
    expect(c).to.include({ port: 9000, host: '127.0.0.1', stateFile: '/etc/portcullis/state.yaml', logLevel: 'debug', allowLogSampleRate: 0.5, maxHeaderBytes: 8192, shutdownGraceMs: 0, shutdownDrainMs: 1500 });
    expect(c.trustedProxies).to.deep.equal(['127.0.0.1/32', '::1']);
    expect(c.keyPepper?.reveal()).to.equal(PEPPER);
    expect(c.redisUrl?.reveal()).to.equal('redis://:pw@redis:6379/0');
    expect(c.identityHeaders).to.include({ subject: 'X-User-Id', consumer: 'X-Consumer-ID', plan: DEFAULT_IDENTITY_HEADERS.plan });
  });

  it('reads the pepper from a file, without its trailing newline', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pc-config-'));
    writeFileSync(join(dir, 'pepper'), `${PEPPER}\n`);
    expect(ok({ PORTCULLIS_KEY_PEPPER_FILE: join(dir, 'pepper') }).keyPepper?.reveal()).to.equal(PEPPER);
    const r = parseAuthzConfig({ PORTCULLIS_KEY_PEPPER_FILE: join(dir, 'missing') });
    expect(r.ok).to.equal(false);
  });

  it('reports every problem at once and never echoes a secret', () => {
    const r = parseAuthzConfig({
      PORTCULLIS_AUTHZ_PORT: '99999',
      PORTCULLIS_TRUSTED_PROXIES: '10.0.0.0/8,300.1.1.1/8,10.0.0.0/40',
      PORTCULLIS_KEY_PEPPER: 'short-secret-value',
      PORTCULLIS_REDIS_URL: 'http://user:hunter2@redis',
      PORTCULLIS_IDENTITY_HEADERS: '{"subject":"Authorization","plan":"X Bad","nope":"X-Y"}',
      PORTCULLIS_LOG_LEVEL: 'loud',
      PORTCULLIS_ALLOW_LOG_SAMPLE_RATE: '2',
      PORTCULLIS_MAX_HEADER_BYTES: 'lots',
    });
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    const text = r.errors.join('\n');
    for (const name of ['PORTCULLIS_AUTHZ_PORT', 'PORTCULLIS_KEY_PEPPER', 'PORTCULLIS_REDIS_URL', 'PORTCULLIS_LOG_LEVEL', 'PORTCULLIS_ALLOW_LOG_SAMPLE_RATE', 'PORTCULLIS_MAX_HEADER_BYTES']) {
      expect(text).to.contain(name);
    }
    expect(r.errors.filter((e) => e.startsWith('PORTCULLIS_TRUSTED_PROXIES'))).to.have.length(2);
    expect(r.errors.filter((e) => e.startsWith('PORTCULLIS_IDENTITY_HEADERS'))).to.have.length(3);
    expect(text).not.to.contain('short-secret-value');
    expect(text).not.to.contain('hunter2');
  });

  it('refuses two identity fields sharing one header and both pepper sources at once', () => {
    const dup = parseAuthzConfig({ PORTCULLIS_IDENTITY_HEADERS: '{"subject":"X-Portcullis-Consumer"}' });
    expect(dup.ok).to.equal(false);
    const both = parseAuthzConfig({ PORTCULLIS_KEY_PEPPER: PEPPER, PORTCULLIS_KEY_PEPPER_FILE: '/x' });
    expect(both.ok).to.equal(false);
    expect(parseAuthzConfig({ PORTCULLIS_IDENTITY_HEADERS: 'not json' }).ok).to.equal(false);
  });

  it('reads TLS for the sync client and the ext_authz server, reporting their problems with everyone else’s', () => {
    const files = tlsFiles();
    const sync = { PORTCULLIS_SYNC_TARGET: 'control-plane:8282', PORTCULLIS_SYNC_TOKEN: 't'.repeat(20) };
    const c = ok({
      ...sync,
      PORTCULLIS_SYNC_TLS_CA_FILE: files.ca,
      PORTCULLIS_SYNC_TLS_SERVER_NAME: 'control-plane.portcullis.svc',
      PORTCULLIS_EXT_AUTHZ_TLS_CERT_FILE: files.server.cert,
      PORTCULLIS_EXT_AUTHZ_TLS_KEY_FILE: files.server.key,
    });
    expect(c.sync?.tls?.serverName).to.equal('control-plane.portcullis.svc');
    expect(c.extAuthz.enabled && c.extAuthz.tls).to.not.equal(undefined);
    expect(JSON.stringify(c) + inspect(c, { depth: 10 })).to.not.match(/BEGIN|MII/);
    expect(ok(sync).sync?.tls, 'plaintext stays the default').to.equal(undefined);

    const r = parseAuthzConfig({
      ...sync,
      PORTCULLIS_SYNC_TLS_CERT_FILE: files.client.cert,
      PORTCULLIS_EXT_AUTHZ_TLS_KEY_FILE: files.server.key,
      PORTCULLIS_LOG_LEVEL: 'loud',
    });
    const named = r.ok ? [] : r.errors.map((e) => e.split(':')[0]).sort();
    expect(named).to.deep.equal(['PORTCULLIS_EXT_AUTHZ_TLS_CERT_FILE', 'PORTCULLIS_LOG_LEVEL', 'PORTCULLIS_SYNC_TLS_CA_FILE', 'PORTCULLIS_SYNC_TLS_KEY_FILE']);

    const unused = parseAuthzConfig({ PORTCULLIS_SYNC_TLS_CA_FILE: files.ca, PORTCULLIS_EXT_AUTHZ_PORT: 'off', PORTCULLIS_EXT_AUTHZ_TLS_CERT_FILE: files.server.cert });
    expect(unused.ok ? [] : unused.errors).to.deep.equal([
      'PORTCULLIS_EXT_AUTHZ_TLS_CERT_FILE: set, but PORTCULLIS_EXT_AUTHZ_PORT is off',
      'PORTCULLIS_SYNC_TLS_CA_FILE: set, but PORTCULLIS_SYNC_TARGET is not (this replica does not sync)',
    ]);
  });

  it('keeps secrets out of JSON and inspect output', () => {
    const c = ok({ PORTCULLIS_KEY_PEPPER: PEPPER, PORTCULLIS_REDIS_URL: 'redis://:pw@r:6379' });
    expect(JSON.stringify(c)).not.to.contain(PEPPER);
    expect(JSON.stringify(c)).not.to.contain(':pw@');
    expect(inspect(c, { depth: 5 })).not.to.contain(PEPPER);
    expect(`${c.keyPepper}`).to.equal('[secret]');
  });
});
