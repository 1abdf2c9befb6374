/**
 * The ext_authz server's settings from the environment, parsed once at startup. Every problem is reported
 * at once so the composition root can fold them into its own startup report.
 *
 * - PORTCULLIS_EXT_AUTHZ_PORT: TCP port (default 9191), or "off" to not serve gRPC at all.
 * - PORTCULLIS_EXT_AUTHZ_HOST: bind address (default 0.0.0.0; "::" for IPv6).
 * - PORTCULLIS_EXT_AUTHZ_TLS_CERT_FILE / _KEY_FILE: serve TLS (default plaintext: Envoy usually calls over
 *   loopback or a sidecar); _CLIENT_CA_FILE: also require Envoy's client certificate. See tls.ts.
 */
import { DEFAULT_EXT_AUTHZ_PORT } from './server.js';
import { type ServerTls, serverTlsFromEnv, tlsSetForChannelOff } from './tls.js';

export const EXT_AUTHZ_TLS_PREFIX = 'PORTCULLIS_EXT_AUTHZ_TLS';

export type ExtAuthzConfig =
  | { readonly enabled: false }
  | { readonly enabled: true; readonly port: number; readonly host: string; readonly tls?: ServerTls };

export type ExtAuthzConfigResult = { readonly ok: true; readonly config: ExtAuthzConfig } | { readonly ok: false; readonly errors: readonly string[] };

export function extAuthzConfigFromEnv(env: Readonly<Record<string, string | undefined>>): ExtAuthzConfigResult {
  const errors: string[] = [];
  const rawPort = env['PORTCULLIS_EXT_AUTHZ_PORT']?.trim() || String(DEFAULT_EXT_AUTHZ_PORT);
  if (rawPort.toLowerCase() === 'off') {
    const errors = tlsSetForChannelOff(env, EXT_AUTHZ_TLS_PREFIX, 'server', 'PORTCULLIS_EXT_AUTHZ_PORT is off');
    return errors.length === 0 ? { ok: true, config: Object.freeze({ enabled: false }) } : { ok: false, errors };
  }
  const port = /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) errors.push(`PORTCULLIS_EXT_AUTHZ_PORT: "${rawPort}" is not a TCP port (1-65535) or "off"`);
  const host = env['PORTCULLIS_EXT_AUTHZ_HOST']?.trim() || '0.0.0.0';
  if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(host)) errors.push(`PORTCULLIS_EXT_AUTHZ_HOST: "${host}" is not a host name or IP address`);
  const tls = serverTlsFromEnv(env, EXT_AUTHZ_TLS_PREFIX);
  if (!tls.ok) errors.push(...tls.errors);
  if (errors.length > 0 || !tls.ok) return { ok: false, errors };
  return { ok: true, config: Object.freeze({ enabled: true, port, host, ...(tls.tls !== undefined ? { tls: tls.tls } : {}) }) };
}
