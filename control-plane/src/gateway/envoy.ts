/**
 * A static Envoy bootstrap (JSON, v3 API) from the state: one listener whose HTTP connection manager asks
 * the authz-service over ext_authz gRPC before routing, routes that mirror Portcullis' own matching, and a
 * cluster per service plus an HTTP/2 cluster for the ext_authz server. Pure; the tests read the result
 * strictly as `envoy.config.bootstrap.v3.Bootstrap` with the official protos.
 */
import { compareMatchOrder, hostMatches, hostRank, type MatchKey } from '../../../authz-service/src/state/compile.js';
import type { ServiceSpec } from '../../../authz-service/src/state/schema.js';
import { type GatewaySettings, type GatewayState, type SocketAddress, upstreamOrigin } from './settings.js';

type Json = string | number | boolean | readonly Json[] | { readonly [key: string]: Json };
export type EnvoyBootstrap = { readonly [key: string]: Json };

export const EXT_AUTHZ_CLUSTER = 'portcullis_ext_authz';
export const EXT_AUTHZ_FILTER = 'envoy.filters.http.ext_authz';
export const serviceCluster = (service: string) => `portcullis_service_${service}`;

const TYPE = 'type.googleapis.com/';

const socketAddress = ({ host, port }: SocketAddress): Json => ({ socket_address: { address: host, port_value: port } });
const seconds = (s: number) => `${s}s`;
const millis = (ms: number) => `${ms / 1000}s`;

const matchKey = (service: ServiceSpec): MatchKey => ({
  ...(service.match.host !== undefined ? { host: service.match.host } : {}),
  prefix: service.match.path_prefix ?? '/',
});

/**
 * Envoy picks one virtual host by domain (exact, then longest suffix wildcard, then "*") and never falls
 * back to another when no route in it matches; Portcullis does fall back from a host-specific service to a
 * wildcard or host-less one. So each host pattern's virtual host lists its own services and then every
 * less specific service that covers it, all in Portcullis' matching order, and Envoy's first-match walk
 * through the routes lands where matchRoute would.
 */
function virtualHosts(services: readonly ServiceSpec[], settings: GatewaySettings): Json[] {
  const ordered = [...services].sort((a, b) => compareMatchOrder(matchKey(a), matchKey(b)) || a.name.localeCompare(b.name));
  const patterns = [...new Set(ordered.map((s) => s.match.host).filter((h): h is string => h !== undefined))];
  const hosts: { name: string; domains: string[]; services: ServiceSpec[] }[] = patterns.map((pattern) => ({
    name: pattern.replace('*', 'wildcard'),
    domains: [pattern],
    services: ordered.filter((s) => hostRank(s.match.host) <= hostRank(pattern) && hostMatches(s.match.host, pattern)),
  }));
  const anyHost = ordered.filter((s) => s.match.host === undefined);
  if (anyHost.length > 0) hosts.push({ name: 'any', domains: ['*'], services: anyHost });
  return hosts.map((vhost) => ({
    name: vhost.name,
    domains: vhost.domains,
    routes: vhost.services.map((service) => route(service, settings)),
  }));
}

/**
 * Segment-aware like Portcullis: `path_separated_prefix` "/v1" takes "/v1" and "/v1/x", not "/v1x". It may
 * not end in "/", for which a plain prefix is already segment-aware. The service is named to the authz-service
 * through `context_extensions`, so both always agree on which service (and its routes) a request belongs to.
 */
function route(service: ServiceSpec, settings: GatewaySettings): Json {
  const prefix = service.match.path_prefix ?? '/';
  return {
    name: service.name,
    match: prefix.endsWith('/') ? { prefix } : { path_separated_prefix: prefix },
    route: { cluster: serviceCluster(service.name), timeout: seconds(settings.upstreamTimeoutSeconds) },
    typed_per_filter_config: {
      [EXT_AUTHZ_FILTER]: {
        '@type': `${TYPE}envoy.extensions.filters.http.ext_authz.v3.ExtAuthzPerRoute`,
        check_settings: { context_extensions: { service: service.name } },
      },
    },
  };
}

function extAuthzFilter(settings: GatewaySettings): Json {
  return {
    name: EXT_AUTHZ_FILTER,
    typed_config: {
      '@type': `${TYPE}envoy.extensions.filters.http.ext_authz.v3.ExtAuthz`,
      grpc_service: { envoy_grpc: { cluster_name: EXT_AUTHZ_CLUSTER }, timeout: millis(settings.extAuthzTimeoutMs) },
      transport_api_version: 'V3',
      // never let a request through unauthenticated because the authz-service did not answer
      failure_mode_allow: false,
      // what an RPC error (authz-service down, or "could not decide" on a fail-closed route) becomes
      status_on_error: { code: 'ServiceUnavailable' },
    },
  };
}

/**
 * The access log shows what ext_authz put into dynamic metadata, the same fields a rate-limit descriptor
 * could use (`metadata` action on namespace envoy.filters.http.ext_authz).
 */
const ACCESS_LOG_FORMAT =
  '[%START_TIME%] "%REQ(:METHOD)% %REQ(X-ENVOY-ORIGINAL-PATH?:PATH)% %PROTOCOL%" %RESPONSE_CODE% %RESPONSE_FLAGS% ' +
  '%DURATION%ms consumer=%DYNAMIC_METADATA(envoy.filters.http.ext_authz:consumer)% ' +
  'service=%DYNAMIC_METADATA(envoy.filters.http.ext_authz:service)% decision=%DYNAMIC_METADATA(envoy.filters.http.ext_authz:decision_id)%\n';

function listener(state: GatewayState, settings: GatewaySettings): Json {
  return {
    name: 'portcullis_http',
    address: socketAddress(settings.listen),
    filter_chains: [
      {
        filters: [
          {
            name: 'envoy.filters.network.http_connection_manager',
            typed_config: {
              '@type': `${TYPE}envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager`,
              stat_prefix: 'portcullis',
              // the edge: the client is the connection's peer, and X-Forwarded-For is Envoy's to write
              use_remote_address: true,
              // route and authorise the same path the upstream will see (Portcullis normalises the same way)
              normalize_path: true,
              merge_slashes: true,
              path_with_escaped_slashes_action: 'REJECT_REQUEST',
              // "api.example.com:8443" must select the "api.example.com" virtual host
              strip_any_host_port: true,
              access_log: [
                {
                  name: 'envoy.access_loggers.stdout',
                  typed_config: {
                    '@type': `${TYPE}envoy.extensions.access_loggers.stream.v3.StdoutAccessLog`,
                    log_format: { text_format_source: { inline_string: ACCESS_LOG_FORMAT } },
                  },
                },
              ],
              route_config: { name: 'portcullis', virtual_hosts: virtualHosts(state.services, settings) },
              http_filters: [
                extAuthzFilter(settings),
                { name: 'envoy.filters.http.router', typed_config: { '@type': `${TYPE}envoy.extensions.filters.http.router.v3.Router` } },
              ],
            },
          },
        ],
      },
    ],
  };
}

function tlsSocket(sni: string, settings: GatewaySettings): Json {
  return {
    name: 'envoy.transport_sockets.tls',
    typed_config: {
      '@type': `${TYPE}envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext`,
      sni,
      // without a validation context Envoy would accept any certificate
      common_tls_context: {
        validation_context: {
          trusted_ca: { filename: settings.upstreamCaFile },
          match_typed_subject_alt_names: [{ san_type: 'DNS', matcher: { exact: sni } }],
        },
      },
    },
  };
}

const TLS_MATCH = { tls: true };

/**
 * One cluster per service, one endpoint per upstream URL (origin only: Envoy forwards the client's path).
 * Upstreams of one service are replicas of one thing; should some be https and some http, endpoint
 * metadata selects the TLS transport for the https ones. SNI is the first https upstream's host.
 */
function serviceClusterConfig(service: ServiceSpec, settings: GatewaySettings): Json {
  const upstreams = service.upstream_urls.map(upstreamOrigin);
  const tls = upstreams.filter((u) => u.scheme === 'https');
  const mixed = tls.length > 0 && tls.length < upstreams.length;
  const name = serviceCluster(service.name);
  return {
    name,
    type: 'STRICT_DNS',
    connect_timeout: '5s',
    lb_policy: 'ROUND_ROBIN',
    load_assignment: {
      cluster_name: name,
      endpoints: [
        {
          lb_endpoints: upstreams.map((u) => ({
            endpoint: { address: socketAddress(u) },
            ...(mixed && u.scheme === 'https' ? { metadata: { filter_metadata: { 'envoy.transport_socket_match': TLS_MATCH } } } : {}),
          })),
        },
      ],
    },
    ...(tls.length > 0 && !mixed ? { transport_socket: tlsSocket(tls[0]!.host, settings) } : {}),
    ...(mixed ? { transport_socket_matches: [{ name: 'tls', match: TLS_MATCH, transport_socket: tlsSocket(tls[0]!.host, settings) }] } : {}),
  };
}

/**
 * The ext_authz server speaks gRPC, so HTTP/2. Envoy pings every 30 s (the grpc-js server accepts pings at
 * any rate) so that a dead authz replica is noticed between calls, and health-checks the Authorization
 * service over grpc.health.v1, which goes NOT_SERVING as soon as a replica starts draining.
 */
function extAuthzCluster(settings: GatewaySettings): Json {
  return {
    name: EXT_AUTHZ_CLUSTER,
    type: 'STRICT_DNS',
    connect_timeout: '1s',
    lb_policy: 'ROUND_ROBIN',
    typed_extension_protocol_options: {
      'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
        '@type': `${TYPE}envoy.extensions.upstreams.http.v3.HttpProtocolOptions`,
        explicit_http_config: { http2_protocol_options: { connection_keepalive: { interval: '30s', timeout: '10s' } } },
      },
    },
    load_assignment: {
      cluster_name: EXT_AUTHZ_CLUSTER,
      endpoints: [{ lb_endpoints: [{ endpoint: { address: socketAddress(settings.extAuthz) } }] }],
    },
    health_checks: [
      {
        timeout: '1s',
        interval: '5s',
        unhealthy_threshold: 2,
        healthy_threshold: 1,
        grpc_health_check: { service_name: 'envoy.service.auth.v3.Authorization' },
      },
    ],
  };
}

export function renderEnvoyBootstrap(state: GatewayState, settings: GatewaySettings): EnvoyBootstrap {
  return {
    node: { id: 'portcullis-gateway', cluster: 'portcullis-gateway' },
    admin: { address: socketAddress(settings.admin) },
    static_resources: {
      listeners: [listener(state, settings)],
      clusters: [
        extAuthzCluster(settings),
        ...[...state.services].sort((a, b) => a.name.localeCompare(b.name)).map((service) => serviceClusterConfig(service, settings)),
      ],
    },
  };
}
