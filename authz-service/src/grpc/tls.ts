/**
 * TLS for Portcullis's gRPC channels (state sync, ext_authz), shared by both services and both ends of a
 * channel: which PEM files the environment names, checked once at startup (readable, parseable, the key
 * belonging to the certificate, the certificate not expired), and the grpc-js credentials made from them.
 * Every problem is reported at once. Half a configuration is an error, never a quiet fall back to plaintext.
 *
 * Variables, for a prefix P (PORTCULLIS_SYNC_TLS, PORTCULLIS_EXT_AUTHZ_TLS):
 *   server  P_CERT_FILE, P_KEY_FILE   certificate (chain) and key shown to clients; TLS on
 *           P_CLIENT_CA_FILE          clients must present a certificate signed by it (mutual TLS)
 *   client  P_CA_FILE                 what the server's certificate must be signed by; TLS on
 *           P_CERT_FILE, P_KEY_FILE   this client's certificate, for a server that asks for one
 *           P_SERVER_NAME             the name to verify instead of the target's host (a target given as an IP)
 *
 * File contents are held as Secrets, certificates too: whatever logs a config object shows none of them.
 */
import { createPrivateKey, type KeyObject, X509Certificate } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { type ChannelCredentials, type ChannelOptions, credentials, ServerCredentials } from '@grpc/grpc-js';
import { Secret } from '../core/secret.js';
import { type Env, setting } from '../env.js';

export interface TlsIdentity {
  /** PEM, the leaf certificate first. */
  readonly certChain: Secret;
  readonly privateKey: Secret;
}

export interface ServerTls {
  readonly identity: TlsIdentity;
  /** PEM bundle; set: a client without a certificate it signed is refused. */
  readonly clientCa?: Secret;
}

export interface ClientTls {
  /** PEM bundle the server's certificate must chain to. */
  readonly ca: Secret;
  readonly identity?: TlsIdentity;
  readonly serverName?: string;
}

export type TlsResult<T> = { readonly ok: true; readonly tls: T | undefined } | { readonly ok: false; readonly errors: readonly string[] };

export function tlsEnvNames(prefix: string) {
  return {
    cert: `${prefix}_CERT_FILE`,
    key: `${prefix}_KEY_FILE`,
    clientCa: `${prefix}_CLIENT_CA_FILE`,
    ca: `${prefix}_CA_FILE`,
    serverName: `${prefix}_SERVER_NAME`,
  } as const;
}

const roleNames = (prefix: string, role: 'server' | 'client'): string[] => {
  const n = tlsEnvNames(prefix);
  return role === 'server' ? [n.cert, n.key, n.clientCa] : [n.ca, n.cert, n.key, n.serverName];
};

/** The role's variables that are set (also under a name without `_FILE`): for "set, but … is off" reports. */
export function tlsSettingsGiven(env: Env, prefix: string, role: 'server' | 'client'): string[] {
  const names = new Set(roleNames(prefix, role).flatMap((name) => [name, name.replace(/_FILE$/, '')]));
  return [...names].filter((name) => setting(env, name) !== undefined);
}

/** The error for TLS settings of a channel that is off (`why` says what turns it off); none when nothing is set. */
export function tlsSetForChannelOff(env: Env, prefix: string, role: 'server' | 'client', why: string): string[] {
  const given = tlsSettingsGiven(env, prefix, role);
  return given.length === 0 ? [] : [`${given.join(', ')}: set, but ${why}`];
}

export function serverTlsFromEnv(env: Env, prefix: string, now: number = Date.now()): TlsResult<ServerTls> {
  const names = tlsEnvNames(prefix);
  const errors = misnamed(env, roleNames(prefix, 'server'));
  const given = roleNames(prefix, 'server').filter((name) => setting(env, name) !== undefined);
  if (given.length === 0) return errors.length > 0 ? { ok: false, errors } : { ok: true, tls: undefined };
  for (const needed of [names.cert, names.key]) if (!given.includes(needed)) errors.push(halfConfigured(needed, given));
  const identity = readIdentity(env, names.cert, names.key, now, errors);
  const clientCa = readCaBundle(env, names.clientCa, errors);
  if (errors.length > 0 || identity === undefined) return { ok: false, errors };
  return { ok: true, tls: Object.freeze({ identity, ...(clientCa !== undefined ? { clientCa } : {}) }) };
}

export function clientTlsFromEnv(env: Env, prefix: string, now: number = Date.now()): TlsResult<ClientTls> {
  const names = tlsEnvNames(prefix);
  const errors = misnamed(env, roleNames(prefix, 'client'));
  const given = roleNames(prefix, 'client').filter((name) => setting(env, name) !== undefined);
  if (given.length === 0) return errors.length > 0 ? { ok: false, errors } : { ok: true, tls: undefined };
  if (!given.includes(names.ca)) errors.push(halfConfigured(names.ca, given));
  const hasCert = given.includes(names.cert);
  const hasKey = given.includes(names.key);
  if (hasCert && !hasKey) errors.push(halfConfigured(names.key, [names.cert]));
  if (hasKey && !hasCert) errors.push(halfConfigured(names.cert, [names.key]));
  const serverName = setting(env, names.serverName);
  if (serverName !== undefined && !/^[A-Za-z0-9.-]{1,253}$/.test(serverName)) errors.push(`${names.serverName}: "${serverName}" is not a host name`);
  const ca = readCaBundle(env, names.ca, errors);
  const identity = hasCert || hasKey ? readIdentity(env, names.cert, names.key, now, errors) : undefined;
  if (errors.length > 0 || ca === undefined) return { ok: false, errors };
  return {
    ok: true,
    tls: Object.freeze({ ca, ...(identity !== undefined ? { identity } : {}), ...(serverName !== undefined ? { serverName } : {}) }),
  };
}

/** grpc-js server credentials: plaintext without TLS settings. */
export function serverCredentials(tls: ServerTls | undefined): ServerCredentials {
  if (tls === undefined) return ServerCredentials.createInsecure();
  const pair = { cert_chain: Buffer.from(tls.identity.certChain.reveal()), private_key: Buffer.from(tls.identity.privateKey.reveal()) };
  return tls.clientCa === undefined
    ? ServerCredentials.createSsl(null, [pair], false)
    : ServerCredentials.createSsl(Buffer.from(tls.clientCa.reveal()), [pair], true);
}

/** grpc-js channel credentials, and the channel options that go with them: plaintext without TLS settings. */
export function channelCredentials(tls: ClientTls | undefined): { readonly credentials: ChannelCredentials; readonly options: ChannelOptions } {
  if (tls === undefined) return { credentials: credentials.createInsecure(), options: {} };
  const identity = tls.identity;
  return {
    credentials: credentials.createSsl(
      Buffer.from(tls.ca.reveal()),
      identity ? Buffer.from(identity.privateKey.reveal()) : null,
      identity ? Buffer.from(identity.certChain.reveal()) : null,
    ),
    options: tls.serverName !== undefined ? { 'grpc.ssl_target_name_override': tls.serverName } : {},
  };
}

/** For startup log lines. */
export function tlsMode(tls: ServerTls | ClientTls | undefined): 'plaintext' | 'tls' | 'mutual-tls' {
  if (tls === undefined) return 'plaintext';
  const mutual = 'ca' in tls ? tls.identity !== undefined : tls.clientCa !== undefined;
  return mutual ? 'mutual-tls' : 'tls';
}

function halfConfigured(missing: string, given: readonly string[]): string {
  return `${missing}: required with ${given.join(' and ')} (half a TLS configuration is refused, not run in plaintext)`;
}

/** `P_CERT` where `P_CERT_FILE` is meant would otherwise leave TLS silently off. */
function misnamed(env: Env, names: readonly string[]): string[] {
  return names
    .filter((name) => name.endsWith('_FILE') && setting(env, name.slice(0, -'_FILE'.length)) !== undefined)
    .map((name) => `${name.slice(0, -'_FILE'.length)}: not a setting; ${name} takes the path of a PEM file`);
}

function readPem(env: Env, name: string, errors: string[]): string | undefined {
  const file = setting(env, name);
  if (file === undefined) return undefined;
  try {
    return readFileSync(file, 'utf8');
  } catch (error) {
    errors.push(`${name}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    return undefined;
  }
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function certificates(name: string, pem: string, errors: string[]): X509Certificate[] | undefined {
  const blocks = pem.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) {
    errors.push(`${name}: the file holds no PEM certificate`);
    return undefined;
  }
  const parsed: X509Certificate[] = [];
  for (const [index, block] of blocks.entries()) {
    try {
      parsed.push(new X509Certificate(block));
    } catch {
      errors.push(`${name}: certificate ${index + 1} in the file does not parse`);
      return undefined;
    }
  }
  return parsed;
}

function readCaBundle(env: Env, name: string, errors: string[]): Secret | undefined {
  const pem = readPem(env, name, errors);
  if (pem === undefined) return undefined;
  return certificates(name, pem, errors) === undefined ? undefined : new Secret(pem);
}

/** A certificate (chain) and its key, each set or reported missing by the caller. */
function readIdentity(env: Env, certName: string, keyName: string, now: number, errors: string[]): TlsIdentity | undefined {
  const certPem = readPem(env, certName, errors);
  const keyPem = readPem(env, keyName, errors);
  const leaf = certPem === undefined ? undefined : certificates(certName, certPem, errors)?.[0];
  let key: KeyObject | undefined;
  if (keyPem !== undefined) {
    try {
      key = createPrivateKey({ key: keyPem, format: 'pem' });
    } catch {
      // the library's message may quote the input; ours names only the variable
      errors.push(`${keyName}: the file holds no unencrypted PEM private key`);
    }
  }
  if (leaf !== undefined && Date.parse(leaf.validTo) <= now) errors.push(`${certName}: the certificate expired on ${leaf.validTo}`);
  if (leaf !== undefined && key !== undefined && !leaf.checkPrivateKey(key)) errors.push(`${keyName}: not the private key of the certificate in ${certName}`);
  if (certPem === undefined || keyPem === undefined || leaf === undefined || key === undefined) return undefined;
  return Object.freeze({ certChain: new Secret(certPem), privateKey: new Secret(keyPem) });
}
