/**
 * The gateway settings the control plane renders with (GET /v1/gateway/*), from its environment. Parsed
 * once at startup with the rest of the configuration; every problem is reported, none is fatal alone.
 *
 * - PORTCULLIS_GATEWAY_AUTHZ_URL: base URL of the authz-service's HTTP listener as the GATEWAY reaches it
 *   (default http://authz-service:8181); forwardAuth and auth_request call `<url>/forward-auth`.
 * - PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: host:port of its ext_authz gRPC server for Envoy (default
 *   authz-service:9191).
 * - PORTCULLIS_IDENTITY_HEADERS: the same JSON the authz-service reads, so gateways copy (and strip) the
 *   names it really sets.
 * - PORTCULLIS_GATEWAY_ENTRYPOINTS: comma-separated Traefik entry points the routers attach to (default web).
 */
import { FORWARD_AUTH_PATH } from '../../../authz-service/src/http/wire.js';
import { IDENTITY_HEADERS_ENV, parseIdentityHeaders } from '../../../authz-service/src/identity-headers-config.js';
import { DEFAULT_GATEWAY_SETTINGS, gatewaySettings, type GatewaySettings, type SocketAddress } from './settings.js';

type Env = Readonly<Record<string, string | undefined>>;

export const GATEWAY_ENV = {
  authzUrl: 'PORTCULLIS_GATEWAY_AUTHZ_URL',
  extAuthzAddress: 'PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS',
  entryPoints: 'PORTCULLIS_GATEWAY_ENTRYPOINTS',
} as const;

export type GatewaySettingsResult = { readonly ok: true; readonly settings: GatewaySettings } | { readonly ok: false; readonly errors: readonly string[] };

/** Traefik names entry points freely; these characters are safe in its flags, labels and file keys. */
const ENTRY_POINT = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])$/;

function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

function parseAuthzUrl(raw: string, errors: string[]): string | undefined {
  const name = GATEWAY_ENV.authzUrl;
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    errors.push(`${name}: "${raw}" is not a URL such as http://authz-service:8181`);
    return undefined;
  }
  const before = errors.length;
  if (url.protocol !== 'http:' && url.protocol !== 'https:') errors.push(`${name}: must be an http:// or https:// URL`);
  if (url.username !== '' || url.password !== '') errors.push(`${name}: must not carry credentials`);
  if (url.search !== '' || url.hash !== '') errors.push(`${name}: must not have a query or fragment`);
  // the renderers append the path themselves; a pasted forwardAuth address would become /forward-auth/forward-auth
  if (url.pathname.replace(/\/+$/, '').endsWith(`/${FORWARD_AUTH_PATH.replace(/^\/+/, '')}`)) {
    errors.push(`${name}: give the authz-service's base URL (e.g. ${url.origin}); gateways call <url>${FORWARD_AUTH_PATH}`);
  }
  return errors.length === before ? raw : undefined;
}

/** `host:port` (an IPv6 literal bracketed) as an address, or undefined when it is not one. */
export function parseHostPort(raw: string): SocketAddress | undefined {
  const m = /^(.+):([0-9]{1,5})$/.exec(raw);
  const port = m ? Number(m[2]) : Number.NaN;
  if (!m || !HOST.test(m[1]!) || !(port >= 1 && port <= 65535)) return undefined;
  return Object.freeze({ host: m[1]!.replace(/^\[(.*)\]$/, '$1'), port });
}

function parseAddress(raw: string, errors: string[]): SocketAddress | undefined {
  const address = parseHostPort(raw);
  if (address === undefined) errors.push(`${GATEWAY_ENV.extAuthzAddress}: "${raw}" is not host:port (e.g. authz-service:9191, [::1]:9191)`);
  return address;
}

function parseEntryPoints(raw: string, errors: string[]): readonly string[] | undefined {
  const names = raw.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const bad = names.filter((n) => !ENTRY_POINT.test(n));
  if (names.length === 0 || bad.length > 0) {
    errors.push(`${GATEWAY_ENV.entryPoints}: a comma-separated list of Traefik entry point names (letters, digits, "-", "_"), e.g. web,websecure`);
    return undefined;
  }
  return Object.freeze([...new Set(names)]);
}

export function parseGatewaySettings(env: Env): GatewaySettingsResult {
  const errors: string[] = [];
  const rawUrl = read(env, GATEWAY_ENV.authzUrl);
  const authzHttpUrl = rawUrl === undefined ? DEFAULT_GATEWAY_SETTINGS.authzHttpUrl : parseAuthzUrl(rawUrl, errors);
  const rawAddress = read(env, GATEWAY_ENV.extAuthzAddress);
  const extAuthz = rawAddress === undefined ? DEFAULT_GATEWAY_SETTINGS.extAuthz : parseAddress(rawAddress, errors);
  const rawEntryPoints = read(env, GATEWAY_ENV.entryPoints);
  const entryPoints = rawEntryPoints === undefined ? DEFAULT_GATEWAY_SETTINGS.entryPoints : parseEntryPoints(rawEntryPoints, errors);
  const identity = parseIdentityHeaders(env[IDENTITY_HEADERS_ENV]);
  if (!identity.ok) errors.push(...identity.errors);

  if (errors.length > 0 || !identity.ok || authzHttpUrl === undefined || extAuthz === undefined || entryPoints === undefined) return { ok: false, errors };
  return { ok: true, settings: gatewaySettings({ authzHttpUrl, extAuthz, identityHeaders: identity.names, entryPoints }) };
}
