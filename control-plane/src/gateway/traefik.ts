/**
 * Traefik v3 dynamic configuration for the HTTP provider (`providers.http.endpoint`), from the state: per
 * service a router, a load-balancer service, and the forwardAuth middleware that asks the authz-service.
 * Pure: the same state and settings always give the same document, so Traefik's change detection (an FNV
 * hash of the body) only reloads when something changed.
 *
 * Only fields the published schema (SchemaStore traefik-v3-file-provider.json) knows are emitted: Traefik
 * refuses unknown keys ("field not found"), and fields newer than the operator's Traefik would be unknown
 * to it — so nothing from 3.6+ such as `maxResponseBodySize` either.
 */
import { compareMatchOrder, hostRank, type MatchKey } from '../../../authz-service/src/state/compile.js';
import type { ServiceSpec } from '../../../authz-service/src/state/schema.js';
import { identityHeaderList } from '../../../authz-service/src/core/identity-headers.js';
import { authzEndpoint, type GatewaySettings, type GatewayState, upstreamOrigin } from './settings.js';

export interface TraefikRouter {
  readonly rule: string;
  readonly service: string;
  readonly entryPoints: readonly string[];
  readonly middlewares: readonly string[];
  readonly priority: number;
}

export interface TraefikService {
  readonly loadBalancer: { readonly servers: readonly { readonly url: string }[]; readonly passHostHeader: boolean };
}

export interface TraefikForwardAuth {
  readonly forwardAuth: {
    readonly address: string;
    readonly trustForwardHeader: boolean;
    readonly authResponseHeaders: readonly string[];
  };
}

export interface TraefikDynamicConfig {
  readonly http: {
    readonly routers: Readonly<Record<string, TraefikRouter>>;
    readonly services: Readonly<Record<string, TraefikService>>;
    readonly middlewares: Readonly<Record<string, TraefikForwardAuth>>;
  };
}

export const FORWARD_AUTH_MIDDLEWARE = 'portcullis-forward-auth';
/** For services with `forward_credentials`: identity headers only, the client's credential passes. */
export const FORWARD_AUTH_KEEP_CREDENTIALS_MIDDLEWARE = 'portcullis-forward-auth-keep-credentials';

export const resourceName = (service: string) => `portcullis-${service}`;

/**
 * Traefik's rule for a service's match. Values sit in backticks; the state schema admits no backtick in a
 * host or prefix. The path part is segment-aware like Portcullis' own matching: "/v1" must take "/v1" and
 * "/v1/x" but not "/v1x", which `PathPrefix` alone would.
 */
export function traefikRule(match: ServiceSpec['match']): string {
  const parts: string[] = [];
  if (match.host !== undefined) {
    if (match.host.startsWith('*.')) {
      // Portcullis' "*.example.com" takes any depth of subdomain ("a.b.example.com"), never the apex
      const suffix = match.host.slice(1).replace(/[.\\+*?()|[\]{}^$]/g, '\\$&');
      parts.push(`HostRegexp(\`(?i)^.+${suffix}$\`)`);
    } else {
      parts.push(`Host(\`${match.host}\`)`);
    }
  }
  const prefix = match.path_prefix;
  if (prefix !== undefined && prefix !== '/') {
    parts.push(prefix.endsWith('/') ? `PathPrefix(\`${prefix}\`)` : `(Path(\`${prefix}\`) || PathPrefix(\`${prefix}/\`))`);
  }
  return parts.length > 0 ? parts.join(' && ') : 'PathPrefix(`/`)';
}

/** Above any prefix length the schema admits (1024), so that the host rank always dominates. */
const PREFIX_SPAN = 2048;

/**
 * Traefik tries routers by descending priority (default: rule length). Explicit priorities that follow
 * compareMatchOrder make Traefik pick the service Portcullis itself would match: exact host, then longer
 * wildcard, then no host; within those, the longest prefix. Never 0, which Traefik reads as "use the default".
 */
export function traefikPriority(key: MatchKey): number {
  return hostRank(key.host) * PREFIX_SPAN + key.prefix.length + 1;
}

const matchKey = (service: ServiceSpec): MatchKey => ({
  ...(service.match.host !== undefined ? { host: service.match.host } : {}),
  prefix: service.match.path_prefix ?? '/',
});

/**
 * Traefik's forwardAuth (pkg/middlewares/auth/forward.go) handles every name in `authResponseHeaders` on a 2xx
 * like this: delete it from the client's request, then copy it from the auth response if present there. So a
 * name listed here can only ever reach the upstream with the authz-service's value:
 * - identity headers: a client-sent `X-Portcullis-Subject` is gone even when the decision sets none;
 * - credential headers: the authz-service never answers with one, so listing them strips the client's
 *   credential before the upstream — the static form of ext_authz's `headers_to_remove`.
 * `authResponseHeadersRegex` behaves the same (delete matching, then copy matching); a list is exact and
 * needs no case-insensitive regex for configurable names. What Traefik cannot do: strip a credential from
 * the query string (`query_key`), or show RateLimit headers to the client on an allow.
 */
export function forwardAuthMiddleware(settings: GatewaySettings, stripCredentials: boolean): TraefikForwardAuth {
  const names = [...identityHeaderList(settings.identityHeaders), ...(stripCredentials ? settings.credentialHeaders : [])];
  return {
    forwardAuth: {
      address: authzEndpoint(settings, 'forward-auth'),
      // regenerate X-Forwarded-* instead of trusting the client's; explicit, as Traefik >= 3.6.14 warns when unset
      trustForwardHeader: false,
      authResponseHeaders: [...new Map(names.map((n) => [n.toLowerCase(), n])).values()],
    },
  };
}

export function renderTraefikConfig(state: GatewayState, settings: GatewaySettings): TraefikDynamicConfig {
  const routers: Record<string, TraefikRouter> = {};
  const services: Record<string, TraefikService> = {};
  const middlewares: Record<string, TraefikForwardAuth> = { [FORWARD_AUTH_MIDDLEWARE]: forwardAuthMiddleware(settings, true) };
  const ordered = [...state.services].sort((a, b) => compareMatchOrder(matchKey(a), matchKey(b)) || a.name.localeCompare(b.name));
  for (const service of ordered) {
    const name = resourceName(service.name);
    const middleware = service.forward_credentials ? FORWARD_AUTH_KEEP_CREDENTIALS_MIDDLEWARE : FORWARD_AUTH_MIDDLEWARE;
    if (service.forward_credentials) middlewares[FORWARD_AUTH_KEEP_CREDENTIALS_MIDDLEWARE] ??= forwardAuthMiddleware(settings, false);
    routers[name] = {
      rule: traefikRule(service.match),
      service: name,
      entryPoints: [...settings.entryPoints],
      middlewares: [middleware],
      priority: traefikPriority(matchKey(service)),
    };
    services[name] = {
      loadBalancer: {
        // Traefik ignores a path in a server URL; the client's path is forwarded as it came
        servers: service.upstream_urls.map((url) => ({ url: upstreamOrigin(url).origin })),
        passHostHeader: true,
      },
    };
  }
  return { http: { routers, services, middlewares } };
}
