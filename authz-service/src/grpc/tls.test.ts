import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { inspect } from 'node:util';
import { tlsFiles } from '../../../test/harness/tls.js';
import { channelCredentials, clientTlsFromEnv, serverCredentials, serverTlsFromEnv, tlsEnvNames, tlsMode, tlsSettingsGiven } from './tls.js';

const PREFIX = 'PORTCULLIS_TEST_TLS';
const N = tlsEnvNames(PREFIX);
const files = tlsFiles();

/** The variables named at the start of each problem. */
const named = (errors: readonly string[]) => errors.map((e) => e.split(':')[0]!).sort();

/** Every subset of `names`. */
const subsets = (names: readonly string[]): string[][] => names.reduce<string[][]>((all, name) => [...all, ...all.map((s) => [...s, name])], [[]]);

/** A value for each variable that is valid on its own, so only the combination can be wrong. */
const VALID: Record<string, string> = {
  [N.cert]: files.server.cert,
  [N.key]: files.server.key,
  [N.clientCa]: files.ca,
  [N.ca]: files.ca,
  [N.serverName]: 'localhost',
};

describe('gRPC TLS settings', () => {
  it('are off, and plaintext, when nothing is set', () => {
    expect(serverTlsFromEnv({}, PREFIX)).to.deep.equal({ ok: true, tls: undefined });
    expect(clientTlsFromEnv({ [N.cert]: '  ' }, PREFIX)).to.deep.equal({ ok: true, tls: undefined });
    expect(serverCredentials(undefined)._isSecure()).to.equal(false);
    expect(channelCredentials(undefined).credentials._isSecure()).to.equal(false);
    expect(tlsMode(undefined)).to.equal('plaintext');
  });

  it('server: certificate and key make TLS, a client CA mutual TLS; nothing of the files shows in logs or JSON', () => {
    const plain = serverTlsFromEnv({ [N.cert]: files.server.cert, [N.key]: files.server.key }, PREFIX);
    if (!plain.ok || !plain.tls) throw new Error(plain.ok ? 'off' : plain.errors.join('\n'));
    expect(Object.isFrozen(plain.tls)).to.equal(true);
    expect(tlsMode(plain.tls)).to.equal('tls');
    expect(serverCredentials(plain.tls)._isSecure()).to.equal(true);
    expect(plain.tls.identity.privateKey.reveal()).to.equal(readFileSync(files.server.key, 'utf8'));
    const mutual = serverTlsFromEnv({ [N.cert]: files.server.cert, [N.key]: files.server.key, [N.clientCa]: files.ca }, PREFIX);
    expect(mutual.ok && tlsMode(mutual.tls)).to.equal('mutual-tls');
    for (const shown of [JSON.stringify(mutual), inspect(mutual, { depth: 10 })]) expect(shown).to.not.match(/BEGIN|PRIVATE|MII/);
  });

  it('client: a CA makes TLS, a certificate and key mutual TLS, a server name goes into the channel options', () => {
    const result = clientTlsFromEnv({ [N.ca]: files.ca, [N.cert]: files.client.cert, [N.key]: files.client.key, [N.serverName]: 'control-plane.example' }, PREFIX);
    if (!result.ok || !result.tls) throw new Error(result.ok ? 'off' : result.errors.join('\n'));
    expect(tlsMode(result.tls)).to.equal('mutual-tls');
    const channel = channelCredentials(result.tls);
    expect(channel.credentials._isSecure()).to.equal(true);
    expect(channel.options).to.deep.equal({ 'grpc.ssl_target_name_override': 'control-plane.example' });
    const caOnly = clientTlsFromEnv({ [N.ca]: files.ca }, PREFIX);
    expect(caOnly.ok && tlsMode(caOnly.tls)).to.equal('tls');
    expect(caOnly.ok && channelCredentials(caOnly.tls).options).to.deep.equal({});
  });

  it('server: every half configuration is refused, naming each missing variable at once', () => {
    for (const given of subsets([N.cert, N.key, N.clientCa]).filter((s) => s.length > 0)) {
      const missing = [N.cert, N.key].filter((name) => !given.includes(name));
      const result = serverTlsFromEnv(Object.fromEntries(given.map((name) => [name, VALID[name]!])), PREFIX);
      if (missing.length === 0) {
        expect(result.ok, given.join()).to.equal(true);
        continue;
      }
      if (result.ok) throw new Error(`accepted ${given.join(', ')}`);
      expect(named(result.errors), given.join()).to.deep.equal([...missing].sort());
      expect(result.errors.join('\n')).to.match(/not run in plaintext/);
    }
  });

  it('client: every half configuration is refused, naming each missing variable at once', () => {
    for (const given of subsets([N.ca, N.cert, N.key, N.serverName]).filter((s) => s.length > 0)) {
      const missing = [
        ...(given.includes(N.ca) ? [] : [N.ca]),
        ...(given.includes(N.cert) && !given.includes(N.key) ? [N.key] : []),
        ...(given.includes(N.key) && !given.includes(N.cert) ? [N.cert] : []),
      ];
      // a client certificate of the client's own: the server's would do as well, but keep the roles apart
      const env = Object.fromEntries(given.map((name) => [name, name === N.cert ? files.client.cert : name === N.key ? files.client.key : VALID[name]!]));
      const result = clientTlsFromEnv(env, PREFIX);
      if (missing.length === 0) {
        expect(result.ok, given.join()).to.equal(true);
        continue;
      }
      if (result.ok) throw new Error(`accepted ${given.join(', ')}`);
      expect(named(result.errors), given.join()).to.deep.equal([...missing].sort());
    }
  });

  it('reports unreadable files, files of the wrong kind and a key of another certificate, all at once and without their contents', () => {
    const result = serverTlsFromEnv({ [N.cert]: files.server.cert, [N.key]: files.client.key, [N.clientCa]: `${files.dir}/missing.pem` }, PREFIX);
    if (result.ok) throw new Error('accepted');
    expect(result.errors).to.have.length(2);
    expect(result.errors).to.include(`${N.key}: not the private key of the certificate in ${N.cert}`);
    expect(result.errors).to.include(`${N.clientCa}: cannot read the file (ENOENT)`);

    const swapped = serverTlsFromEnv({ [N.cert]: files.server.key, [N.key]: files.server.cert, [N.clientCa]: files.dir }, PREFIX);
    if (swapped.ok) throw new Error('accepted');
    expect(swapped.errors).to.have.members([
      `${N.cert}: the file holds no PEM certificate`,
      `${N.key}: the file holds no unencrypted PEM private key`,
      `${N.clientCa}: cannot read the file (EISDIR)`,
    ]);
    expect([...result.errors, ...swapped.errors].join('\n')).to.not.match(/BEGIN|MII/);

    const client = clientTlsFromEnv({ [N.ca]: files.client.key, [N.cert]: files.client.cert, [N.key]: files.server.key, [N.serverName]: 'not a name' }, PREFIX);
    if (client.ok) throw new Error('accepted');
    expect(named(client.errors)).to.deep.equal([N.ca, N.key, N.serverName].sort());
  });

  it('refuses an expired certificate', () => {
    const later = Date.now() + (files.validDays + 1) * 86_400_000;
    const result = serverTlsFromEnv({ [N.cert]: files.server.cert, [N.key]: files.server.key }, PREFIX, later);
    expect(result.ok ? [] : result.errors.map((e) => e.replace(/ on .*/, ''))).to.deep.equal([`${N.cert}: the certificate expired`]);
    expect(serverTlsFromEnv({ [N.cert]: files.server.cert, [N.key]: files.server.key }, PREFIX).ok, 'today it is valid').to.equal(true);
  });

  it('refuses a variable that misses its _FILE suffix, which would otherwise leave TLS off', () => {
    const result = serverTlsFromEnv({ [`${PREFIX}_CERT`]: files.server.cert }, PREFIX);
    expect(result).to.deep.equal({ ok: false, errors: [`${PREFIX}_CERT: not a setting; ${N.cert} takes the path of a PEM file`] });
    expect(tlsSettingsGiven({ [`${PREFIX}_KEY`]: 'x', [N.ca]: 'y' }, PREFIX, 'server')).to.deep.equal([`${PREFIX}_KEY`]);
    expect(tlsSettingsGiven({ [`${PREFIX}_KEY`]: 'x', [N.ca]: 'y' }, PREFIX, 'client')).to.deep.equal([N.ca, `${PREFIX}_KEY`]);
  });
});
