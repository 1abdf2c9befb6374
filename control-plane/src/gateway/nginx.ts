/**
 * nginx configuration for Portcullis: every protected service becomes a location guarded by `auth_request`
 * to the authz-service. A pure function of the services, so the control plane can serve it, a CLI can write
 * it, and the end-to-end test runs real nginx on exactly what users get.
 *
 * What the rendered config guarantees:
 * - nginx picks the same service the authz-service judges: server blocks per host pattern, and within a
 *   block only the locations the decision core's route order (host first, then longest prefix) can reach.
 *   Otherwise a request could be authorised for one service and proxied to another.
 * - Identity headers come only from the auth response: `proxy_set_header` overwrites (or, when empty,
 *   removes) any copy the client sent. Credentials are removed unless the service forwards them.
 * - auth_request turns every auth status except 2xx/401/403 into 500. The error_page handlers rebuild the
 *   real answer (400, 404, 429 with Retry-After and RateLimit headers, 503) from the auth response's headers,
 *   as application/problem+json; 401 keeps WWW-Authenticate.
 * - The auth subrequest reuses keep-alive connections to the authz-service, carries no body, and passes
 *   the original method, URI, host, scheme and client address; client-sent X-Forwarded-Uri/-Method are
 *   cleared so the authz-service, which trusts nginx, cannot be told a different target.
 * - A replica that is down, restarting, closing a keep-alive connection or answering 503 (no state loaded
 *   yet) costs a retry on another replica, not a failed request: the auth subrequest is a GET without
 *   body, so asking again is safe.
 */
import type { IdentityHeaderNames } from '../../../authz-service/src/core/identity-headers.js';
import { ERROR_CATALOG, type ErrorCode, PROBLEM_TYPE_BASE } from '../../../authz-service/src/core/errors.js';
import { ERROR_CODE_HEADER, FORWARD_AUTH_PATH, RATE_LIMIT_HEADERS } from '../../../authz-service/src/http/wire.js';
import { compareMatchOrder, hostMatches, type MatchKey, pathHasPrefix } from '../../../authz-service/src/state/compile.js';
import type { ServiceSpec } from '../../../authz-service/src/state/schema.js';
import { authzEndpoint, type GatewaySettings, type GatewayState, upstreamOrigin } from './settings.js';

export interface NginxSiteOptions {
  /** Per service name, upstream host:port list replacing the service's upstream_urls (tests, overlays). */
  readonly upstreams?: Readonly<Record<string, readonly string[]>>;
  /**
   * host:port of every authz-service replica when nginx should balance over them itself (no Service or DNS
   * name in front of them); default: the host of the settings' authzHttpUrl.
   */
  readonly authzServers?: readonly string[];
  /** Idle keep-alive connections nginx keeps to the authz-service per worker. Default 64. */
  readonly authzKeepalive?: number;
  /** Largest request body nginx accepts (prompts and uploads can be large); nginx syntax. Default "32m". */
  readonly clientMaxBodySize?: string;
}

export interface NginxMainOptions {
  readonly pidFile: string;
  readonly errorLog: string;
  /** Absent: no access log. */
  readonly accessLog?: string;
  /** Directory for nginx's temp files (client bodies, proxy buffers). */
  readonly tempDir: string;
  readonly workerProcesses?: number | 'auto';
  /** `user` directive; only meaningful when nginx starts as root. */
  readonly user?: string;
}

const AUTH_LOCATION = '/_portcullis_auth';

/** Identity header names must be addressable as $upstream_http_* variables. */
const NGINX_HEADER = /^[A-Za-z0-9-]+$/;

const varName = (header: string) => header.toLowerCase().replace(/-/g, '_');
const upstreamVar = (header: string) => `$upstream_http_${varName(header)}`;
const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
/** Quoted nginx string; `$` stays as is (location paths are literal, map values carry no variables). */
const quote = (s: string) => `"${s.replace(/(["\\])/g, '\\$1')}"`;

/** Static problem+json body text for nginx `return`; `$pc_*` variables interpolate at request time. */
function problemBody(status: number, code: string, title: string, withInstance: boolean): string {
  const instance = withInstance ? ',"instance":"$pc_decision_id"' : '';
  return `'{"type":"${PROBLEM_TYPE_BASE}${code}","title":"${title}","status":${status},"code":"${code}"${instance}}'`;
}

interface Candidate extends MatchKey {
  readonly service: ServiceSpec;
}

/** Services that can answer a request reaching the server block `name` (undefined: the default block). */
function servesBlock(candidate: Candidate, name: string | undefined): boolean {
  if (candidate.host === undefined) return true;
  return name !== undefined && hostMatches(candidate.host, name);
}

/** host:port for an nginx `server` line (IPv6 literals bracketed). */
function serverAddress(url: string): { scheme: string; address: string } {
  const { scheme, host, port } = upstreamOrigin(url);
  return { scheme, address: `${host.includes(':') ? `[${host}]` : host}:${port}` };
}

function upstreamAddresses(service: ServiceSpec, overrides: NginxSiteOptions['upstreams']): { scheme: string; servers: string[] } {
  const override = overrides?.[service.name];
  if (override && override.length > 0) return { scheme: 'http', servers: [...override] };
  const parsed = service.upstream_urls.map(serverAddress);
  // one upstream block has one scheme; the first URL's wins (mixing schemes in one service is unusual)
  return { scheme: parsed[0]!.scheme, servers: parsed.map((p) => p.address) };
}

/** Location paths equivalent to a segment-aware prefix. */
function locationPaths(prefix: string): string[] {
  if (prefix === '/' || prefix.endsWith('/')) return [prefix];
  return [`= ${prefix}`, `${prefix}/`];
}

const upstreamName = (service: string) => `portcullis_svc_${service}`;

function renderServiceLocation(location: string, service: ServiceSpec, settings: GatewaySettings, scheme: string): string {
  const id = settings.identityHeaders;
  const lines: string[] = [];
  lines.push(`  location ${location.startsWith('= ') ? `= ${quote(location.slice(2))}` : quote(location)} {`);
  lines.push(`    # service ${service.name}`);
  lines.push(`    auth_request ${AUTH_LOCATION};`);
  lines.push('    auth_request_set $pc_status $upstream_status;');
  lines.push(`    auth_request_set $pc_code ${upstreamVar(ERROR_CODE_HEADER)};`);
  lines.push(`    auth_request_set $pc_decision_id ${upstreamVar(id.decisionId)};`);
  for (const header of RATE_LIMIT_HEADERS) lines.push(`    auth_request_set $pc_${varName(header)} ${upstreamVar(header)};`);
  for (const [key, header] of Object.entries(id)) {
    if (key === 'decisionId') continue;
    lines.push(`    auth_request_set $pc_id_${snake(key)} ${upstreamVar(header)};`);
  }
  // every proxy_set_header of this location must be here: one at this level disables inheritance
  lines.push('    proxy_http_version 1.1;');
  lines.push('    proxy_set_header Connection "";');
  lines.push('    proxy_set_header Host $host;');
  lines.push('    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;');
  lines.push('    proxy_set_header X-Forwarded-Proto $scheme;');
  lines.push('    proxy_set_header X-Real-IP $remote_addr;');
  for (const [key, header] of Object.entries(id)) {
    lines.push(`    proxy_set_header ${header} ${key === 'decisionId' ? '$pc_decision_id' : `$pc_id_${snake(key)}`};`);
  }
  if (!service.forward_credentials) {
    lines.push('    # the credential stays here; the upstream gets the identity headers instead');
    for (const header of settings.credentialHeaders) lines.push(`    proxy_set_header ${header} "";`);
    if (service.query_key !== undefined) {
      // a key sent as ?user_key= (3scale style): the upstream gets the query without it. The auth
      // subrequest still sees it, because it is given $request_uri, which this does not change.
      const name = service.query_key.replace(/[.-]/g, '\\$&');
      lines.push(`    if ($args ~ "^(?<pc_qa>(?:.*&)?)${name}=[^&]*&?(?<pc_qb>.*)$") {`);
      lines.push('      set $args $pc_qa$pc_qb;');
      lines.push('    }');
    }
  }
  for (const header of RATE_LIMIT_HEADERS) {
    if (header === 'Retry-After') continue;
    lines.push(`    add_header ${header} $pc_${varName(header)} always;`);
  }
  lines.push('    error_page 401 = @portcullis_401;');
  lines.push('    error_page 403 = @portcullis_403;');
  lines.push('    error_page 500 = @portcullis_error;');
  // model servers stream tokens (SSE); buffering would hold them back
  lines.push('    proxy_buffering off;');
  lines.push('    proxy_read_timeout 300s;');
  lines.push(`    proxy_pass ${scheme}://${upstreamName(service.name)};`);
  lines.push('  }');
  return lines.join('\n');
}

function renderAuthLocation(settings: GatewaySettings): string {
  const target = new URL(authzEndpoint(settings, FORWARD_AUTH_PATH));
  return `  location = ${AUTH_LOCATION} {
    internal;
    proxy_pass ${target.protocol.replace(':', '')}://portcullis_authz${target.pathname};
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    proxy_pass_request_body off;
    proxy_set_header Content-Length "";
    proxy_set_header X-Original-URI $request_uri;
    proxy_set_header X-Original-Method $request_method;
    proxy_set_header X-Original-Host $host;
    proxy_set_header X-Forwarded-Host $host;
    proxy_set_header X-Forwarded-Proto $scheme;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Real-IP $remote_addr;
    proxy_set_header X-Forwarded-Uri "";
    proxy_set_header X-Forwarded-Method "";
    proxy_connect_timeout 2s;
    proxy_send_timeout 5s;
    proxy_read_timeout 5s;
    proxy_next_upstream error timeout http_503;
  }`;
}

/** The statuses auth_request hides behind 500, rebuilt from the auth response's status and headers. */
const PASSED_THROUGH: readonly number[] = [400, 404, 429, 431, 500, 503];

function renderErrorLocations(decisionIdHeader: string): string {
  const title = (code: ErrorCode) => ERROR_CATALOG[code].title;
  // add_header inside an `if` replaces the location's add_header list, so each branch carries all of them
  const common = (indent: string) =>
    [`add_header Cache-Control no-store always;`, `add_header ${ERROR_CODE_HEADER} $pc_code always;`, `add_header ${decisionIdHeader} $pc_decision_id always;`]
      .map((l) => indent + l)
      .join('\n');
  const branches = PASSED_THROUGH.map((status) => {
    const limits = status === 429 ? '\n' + RATE_LIMIT_HEADERS.map((h) => `      add_header ${h} $pc_${varName(h)} always;`).join('\n') : '';
    return `    if ($pc_final_status = ${status}) {
${common('      ')}${limits}
      return ${status} ${problemBody(status, '$pc_code', '$pc_title', true)};
    }`;
  }).join('\n');
  return `  location @portcullis_401 {
    default_type application/problem+json;
${common('    ')}
    return 401 ${problemBody(401, '$pc_code', '$pc_title', true)};
  }
  location @portcullis_403 {
    default_type application/problem+json;
${common('    ')}
    return 403 ${problemBody(403, '$pc_code', '$pc_title', true)};
  }
  location @portcullis_error {
    default_type application/problem+json;
${branches}
    # no answer from the authz-service (down, timed out): nobody decided, so nobody gets through
    if ($pc_code = "") {
      add_header Cache-Control no-store always;
      return 503 ${problemBody(503, 'dependency_unavailable', title('dependency_unavailable'), false)};
    }
    add_header Cache-Control no-store always;
    return 500 ${problemBody(500, 'internal_error', title('internal_error'), false)};
  }`;
}

function renderNoRouteLocation(): string {
  return `  location / {
    default_type application/problem+json;
    return 404 ${problemBody(404, 'no_route', ERROR_CATALOG.no_route.title, false)};
  }`;
}

/** The http-context part: upstreams, maps and server blocks (what goes into conf.d/portcullis.conf). */
export function renderNginxSite(state: GatewayState, settings: GatewaySettings, options: NginxSiteOptions = {}): string {
  for (const [key, header] of Object.entries(settings.identityHeaders)) {
    if (!NGINX_HEADER.test(header)) throw new RangeError(`identity header ${key} (${header}) must use only letters, digits and "-" to be usable in nginx`);
  }
  const candidates: Candidate[] = state.services
    .map((service) => ({ service, ...(service.match.host ? { host: service.match.host } : {}), prefix: service.match.path_prefix ?? '/' }))
    .sort(compareMatchOrder);

  const out: string[] = ['# Generated by Portcullis. Edits are overwritten.'];
  const authzServers = options.authzServers?.length ? options.authzServers : [serverAddress(settings.authzHttpUrl).address];
  out.push(`upstream portcullis_authz {\n${authzServers.map((s) => `  server ${s};`).join('\n')}\n  keepalive ${options.authzKeepalive ?? 64};\n}`);
  const schemes = new Map<string, string>();
  for (const { service } of candidates) {
    const { scheme, servers } = upstreamAddresses(service, options.upstreams);
    schemes.set(service.name, scheme);
    out.push(`upstream ${upstreamName(service.name)} {\n${servers.map((s) => `  server ${s};`).join('\n')}\n  keepalive 32;\n}`);
  }
  const titles = (Object.keys(ERROR_CATALOG) as ErrorCode[]).map((code) => `  ${code} ${quote(ERROR_CATALOG[code].title)};`).join('\n');
  // after a retry $upstream_status lists every attempt ("502, 429"); the answer is the last one's
  out.push('map $pc_status $pc_final_status {\n  default "";\n  "~(?<pc_last>\\d{3})$" $pc_last;\n}');
  out.push(`map $pc_code $pc_title {\n  default "Error";\n${titles}\n}`);

  const blockNames: (string | undefined)[] = [undefined, ...new Set(candidates.flatMap((c) => (c.host ? [c.host] : [])))];
  const { host: listenHost, port: listenPort } = settings.listen;
  const listen = `${listenHost.includes(':') ? `[${listenHost}]` : listenHost}:${listenPort}`;
  for (const name of blockNames) {
    const taken: Candidate[] = [];
    const locations = new Set<string>();
    const rendered: string[] = [];
    for (const candidate of candidates) {
      if (!servesBlock(candidate, name)) continue;
      // a higher-ranked service whose prefix covers this one gets all of its requests in the decision core
      if (taken.some((t) => pathHasPrefix(candidate.prefix, t.prefix))) continue;
      taken.push(candidate);
      for (const location of locationPaths(candidate.prefix)) {
        if (locations.has(location)) continue;
        locations.add(location);
        rendered.push(renderServiceLocation(location, candidate.service, settings, schemes.get(candidate.service.name)!));
      }
    }
    const lines = [
      'server {',
      `  listen ${listen}${name === undefined ? ' default_server' : ''};`,
      `  server_name ${name ?? '_'};`,
      `  client_max_body_size ${options.clientMaxBodySize ?? '32m'};`,
      renderAuthLocation(settings),
      renderErrorLocations(settings.identityHeaders.decisionId),
      ...rendered,
      ...(locations.has('/') ? [] : [renderNoRouteLocation()]),
      '}',
    ];
    out.push(lines.join('\n'));
  }
  return `${out.join('\n\n')}\n`;
}

/** A complete nginx.conf around the site: for running nginx directly (tests, a standalone container). */
export function renderNginxConfig(state: GatewayState, settings: GatewaySettings, main: NginxMainOptions, options: NginxSiteOptions = {}): string {
  return nginxMainConfig(renderNginxSite(state, settings, options), main);
}

/**
 * A complete nginx.conf around a site rendered earlier, e.g. one fetched from the control plane's
 * GET /v1/gateway/nginx: the main and events contexts, and the site inside `http`.
 */
export function nginxMainConfig(site: string, main: NginxMainOptions): string {
  const t = main.tempDir;
  return `${main.user ? `user ${main.user};\n` : ''}worker_processes ${main.workerProcesses ?? 'auto'};
pid ${main.pidFile};
error_log ${main.errorLog} warn;

events {
  worker_connections 1024;
}

http {
  access_log ${main.accessLog ?? 'off'};
  client_body_temp_path ${t}/client_body;
  proxy_temp_path ${t}/proxy;
  fastcgi_temp_path ${t}/fastcgi;
  uwsgi_temp_path ${t}/uwsgi;
  scgi_temp_path ${t}/scgi;
  server_tokens off;
  keepalive_timeout 65s;

${site
  .split('\n')
  .map((l) => (l === '' ? l : `  ${l}`))
  .join('\n')}
}
`;
}
