/**
 * The ext_authz server's settings from the environment, parsed once at startup. Every problem is reported
 * at once so the composition root can fold them into its own startup report.
 *
 * - PORTCULLIS_EXT_AUTHZ_PORT: TCP port (default 9191), or "off" to not serve gRPC at all.
 * - PORTCULLIS_EXT_AUTHZ_HOST: bind address (default 0.0.0.0; "::" for IPv6).
 */
import { DEFAULT_EXT_AUTHZ_PORT } from './server.js';

export type ExtAuthzConfig =
  | { readonly enabled: false }
  | { readonly enabled: true; readonly port: number; readonly host: string };

export type ExtAuthzConfigResult = { readonly ok: true; readonly config: ExtAuthzConfig } | { readonly ok: false; readonly errors: readonly string[] };

export function extAuthzConfigFromEnv(env: Readonly<Record<string, string | undefined>>): ExtAuthzConfigResult {
  const errors: string[] = [];
  const rawPort = env['PORTCULLIS_EXT_AUTHZ_PORT']?.trim() || String(DEFAULT_EXT_AUTHZ_PORT);
  if (rawPort.toLowerCase() === 'off') return { ok: true, config: Object.freeze({ enabled: false }) };
  const port = /^[0-9]{1,5}$/.test(rawPort) ? Number(rawPort) : Number.NaN;
  if (!(port >= 1 && port <= 65535)) errors.push(`PORTCULLIS_EXT_AUTHZ_PORT: "${rawPort}" is not a TCP port (1-65535) or "off"`);
  const host = env['PORTCULLIS_EXT_AUTHZ_HOST']?.trim() || '0.0.0.0';
  if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(host)) errors.push(`PORTCULLIS_EXT_AUTHZ_HOST: "${host}" is not a host name or IP address`);
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, config: Object.freeze({ enabled: true, port, host }) };
}
