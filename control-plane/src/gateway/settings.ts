/**
 * What a gateway renderer needs to know besides the state: where the authz-service listens, which identity
 * headers it sets, which request headers carry credentials, and where the gateway itself listens. One object
 * for every renderer (Traefik, nginx, Envoy), so that all three describe the same deployment.
 */
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from '../../../authz-service/src/core/identity-headers.js';
import type { StateSpec } from '../../../authz-service/src/state/schema.js';

/** The part of the state a gateway configuration is rendered from: the services. */
export type GatewayState = Pick<StateSpec, 'services'>;

export interface SocketAddress {
  readonly host: string;
  readonly port: number;
}

export interface GatewaySettings {
  /** Base URL of the authz-service HTTP listener; forwardAuth and auth_request call `<base>/forward-auth`. */
  readonly authzHttpUrl: string;
  /** The authz-service ext_authz gRPC server (PORTCULLIS_EXT_AUTHZ_PORT). */
  readonly extAuthz: SocketAddress;
  /** Must equal the names the authz-service sets: the gateway copies exactly these and strips client-sent copies. */
  readonly identityHeaders: IdentityHeaderNames;
  /**
   * Request headers that can carry a Portcullis credential. Gateways that cannot take a strip list per
   * request (Traefik) strip these statically on services that do not forward credentials.
   */
  readonly credentialHeaders: readonly string[];
  /** Traefik entry points the routers attach to. */
  readonly entryPoints: readonly string[];
  /** Where the gateway accepts client traffic (Envoy listener). */
  readonly listen: SocketAddress;
  /** Envoy's admin interface; loopback by default because it can change the proxy's state. */
  readonly admin: SocketAddress;
  /** Envoy ext_authz call timeout. Envoy's default, 200 ms, is short for a first JWKS fetch. */
  readonly extAuthzTimeoutMs: number;
  /** Upstream route timeout; generous because model inference is slow. 0 disables it. */
  readonly upstreamTimeoutSeconds: number;
  /** CA bundle Envoy verifies https upstreams against (the Debian/Ubuntu system bundle by default). */
  readonly upstreamCaFile: string;
}

export const DEFAULT_GATEWAY_SETTINGS: GatewaySettings = Object.freeze({
  authzHttpUrl: 'http://authz-service:8181',
  extAuthz: Object.freeze({ host: 'authz-service', port: 9191 }),
  identityHeaders: DEFAULT_IDENTITY_HEADERS,
  credentialHeaders: Object.freeze(['Authorization', 'X-Api-Key']),
  entryPoints: Object.freeze(['web']),
  listen: Object.freeze({ host: '0.0.0.0', port: 10000 }),
  admin: Object.freeze({ host: '127.0.0.1', port: 9901 }),
  extAuthzTimeoutMs: 500,
  upstreamTimeoutSeconds: 300,
  upstreamCaFile: '/etc/ssl/certs/ca-certificates.crt',
});

export function gatewaySettings(overrides: Partial<GatewaySettings> = {}): GatewaySettings {
  return Object.freeze({ ...DEFAULT_GATEWAY_SETTINGS, ...overrides });
}

/** `<base>/<path>` whatever the base's trailing slashes. */
export function authzEndpoint(settings: GatewaySettings, path: string): string {
  return `${settings.authzHttpUrl.replace(/\/+$/, '')}/${path.replace(/^\/+/, '')}`;
}

/** An upstream URL's parts; the path is not used, since the gateway forwards the client's own path. */
export function upstreamOrigin(url: string): { readonly scheme: 'http' | 'https'; readonly host: string; readonly port: number; readonly origin: string } {
  const parsed = new URL(url);
  const scheme = parsed.protocol === 'https:' ? 'https' : 'http';
  const port = parsed.port === '' ? (scheme === 'https' ? 443 : 80) : Number(parsed.port);
  // IPv6 literals come bracketed from URL; socket addresses want them bare
  const host = parsed.hostname.replace(/^\[(.*)\]$/, '$1');
  return { scheme, host, port, origin: parsed.origin };
}
