/**
 * Throwaway TLS material for tests, made with the openssl CLI into a temp directory once per process: a CA,
 * a server certificate for localhost and 127.0.0.1, a client certificate, and a second, unrelated CA with a
 * server and a client certificate of its own (what a client or server must not trust). P-256 keys, valid
 * for two days: generation takes a fraction of a second.
 *
 * The extensions come from a config file of our own, so the system's openssl.cnf cannot change them.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface TlsPair {
  readonly cert: string;
  readonly key: string;
}

export interface TlsFiles {
  readonly dir: string;
  /** CA certificate (PEM) that signed `server` and `client`. */
  readonly ca: string;
  /** serverAuth; SANs localhost and 127.0.0.1. */
  readonly server: TlsPair;
  /** clientAuth. */
  readonly client: TlsPair;
  /** Another CA, which signed `otherServer` and `otherClient`. */
  readonly otherCa: string;
  readonly otherServer: TlsPair;
  readonly otherClient: TlsPair;
  /** Days the leaf certificates are valid from now. */
  readonly validDays: number;
}

const VALID_DAYS = 2;

const EXTENSIONS = `
[req]
distinguished_name = dn
[dn]
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost, IP:127.0.0.1
authorityKeyIdentifier = keyid
[client]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
`;

let made: TlsFiles | undefined;

/** The same files for the whole test process; removed when it exits. */
export function tlsFiles(): TlsFiles {
  made ??= generate();
  return made;
}

function generate(): TlsFiles {
  const dir = mkdtempSync(join(tmpdir(), 'pc-tls-'));
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  const config = join(dir, 'extensions.cnf');
  writeFileSync(config, EXTENSIONS);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  const newKey = (name: string) => {
    openssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', join(dir, `${name}.key`));
    return join(dir, `${name}.key`);
  };
  const newCa = (name: string) => {
    openssl('req', '-new', '-x509', '-key', newKey(name), '-out', join(dir, `${name}.crt`), '-days', String(VALID_DAYS + 1), '-subj', `/CN=Portcullis test ${name}`, '-config', config, '-extensions', 'ca');
    return join(dir, `${name}.crt`);
  };
  const issue = (name: string, ca: string, extensions: 'server' | 'client', commonName: string): TlsPair => {
    const key = newKey(name);
    const csr = join(dir, `${name}.csr`);
    openssl('req', '-new', '-key', key, '-out', csr, '-subj', `/CN=${commonName}`, '-config', config);
    const cert = join(dir, `${name}.crt`);
    openssl(
      'x509', '-req', '-in', csr, '-CA', join(dir, `${ca}.crt`), '-CAkey', join(dir, `${ca}.key`), '-set_serial', `0x${randomBytes(8).toString('hex')}`,
      '-days', String(VALID_DAYS), '-out', cert, '-extfile', config, '-extensions', extensions,
    );
    return { cert, key };
  };
  const ca = newCa('ca');
  const otherCa = newCa('other-ca');
  return Object.freeze({
    dir,
    ca,
    server: issue('server', 'ca', 'server', 'localhost'),
    client: issue('client', 'ca', 'client', 'replica-1'),
    otherCa,
    otherServer: issue('other-server', 'other-ca', 'server', 'localhost'),
    otherClient: issue('other-client', 'other-ca', 'client', 'replica-2'),
    validDays: VALID_DAYS,
  });
}
