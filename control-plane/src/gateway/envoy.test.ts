import { expect } from 'chai';
import { compileState } from '../../../authz-service/src/state/compile.js';
import { type StateInput, StateSchema, type StateSpec } from '../../../authz-service/src/state/schema.js';
import { BOOTSTRAP_TYPE, bootstrapProtoRoot } from '../../../test/harness/envoy-protos.js';
import { exampleIsCurrent, sampleState } from '../../../test/harness/gateway-examples.js';
import { strictProtoJsonErrors } from '../../../test/harness/strict-proto-json.js';
import { EXT_AUTHZ_CLUSTER, EXT_AUTHZ_FILTER, renderEnvoyBootstrap, serviceCluster } from './envoy.js';
import { gatewaySettings } from './settings.js';

const spec = (input: StateInput): StateSpec => StateSchema.parse(input);

const settings = gatewaySettings({ extAuthz: { host: 'authz', port: 9191 }, listen: { host: '0.0.0.0', port: 8080 } });

/** Through JSON, as Envoy reads the file. */
const wire = (value: unknown): any => JSON.parse(JSON.stringify(value));

const hcmOf = (bootstrap: any) => bootstrap.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;

/**
 * Envoy's routing as documented: the virtual host whose domain matches best (exact, then the longest
 * "*." suffix, then "*"), then the first route whose match accepts the (normalised, port-stripped) request.
 */
function envoyRoute(bootstrap: any, host: string, path: string): any {
  const vhosts: any[] = hcmOf(bootstrap).route_config.virtual_hosts;
  const h = host.toLowerCase().replace(/:[0-9]+$/, '');
  const exact = vhosts.find((v) => v.domains.includes(h));
  const suffix = vhosts
    .flatMap((v) => v.domains.filter((d: string) => d.startsWith('*') && d.length > 1 && h.length > d.length - 1 && h.endsWith(d.slice(1))).map((d: string) => ({ v, d })))
    .sort((a, b) => b.d.length - a.d.length)[0]?.v;
  const vhost = exact ?? suffix ?? vhosts.find((v) => v.domains.includes('*'));
  return vhost?.routes.find((r: any) => {
    const m = r.match;
    if (m.prefix !== undefined) return path.startsWith(m.prefix);
    return path === m.path_separated_prefix || path.startsWith(`${m.path_separated_prefix}/`);
  });
}

describe('renderEnvoyBootstrap', () => {
  const root = bootstrapProtoRoot();
  const strictErrors = (doc: unknown) => strictProtoJsonErrors(root, BOOTSTRAP_TYPE, wire(doc));

  it('reads strictly as envoy.config.bootstrap.v3.Bootstrap with the official protos', () => {
    expect(strictErrors(renderEnvoyBootstrap(sampleState(), settings))).to.deep.equal([]);
    expect(strictErrors(renderEnvoyBootstrap(spec({}), settings))).to.deep.equal([]);
  });

  it('would fail a misspelt field in what it renders (the check is live)', () => {
    const doc = wire(renderEnvoyBootstrap(sampleState(), settings));
    hcmOf(doc).http_filters[0].typed_config.failure_mode_alow = false;
    expect(strictErrors(doc)).to.deep.equal([
      '.static_resources.listeners[0].filter_chains[0].filters[0].typed_config.http_filters[0].typed_config.failure_mode_alow: unknown field of envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
    ]);
  });

  it('asks ext_authz over gRPC (V3, fail closed) before the router, with an HTTP/2 cluster health-checked over grpc.health.v1', () => {
    const doc = wire(renderEnvoyBootstrap(sampleState(), settings));
    const filters = hcmOf(doc).http_filters;
    expect(filters.map((f: any) => f.name)).to.deep.equal([EXT_AUTHZ_FILTER, 'envoy.filters.http.router']);
    expect(filters[0].typed_config).to.deep.include({ transport_api_version: 'V3', failure_mode_allow: false, status_on_error: { code: 'ServiceUnavailable' } });
    expect(filters[0].typed_config.grpc_service).to.deep.equal({ envoy_grpc: { cluster_name: EXT_AUTHZ_CLUSTER }, timeout: '0.5s' });
    const authz = doc.static_resources.clusters.find((c: any) => c.name === EXT_AUTHZ_CLUSTER);
    expect(authz.typed_extension_protocol_options['envoy.extensions.upstreams.http.v3.HttpProtocolOptions'].explicit_http_config).to.have.property('http2_protocol_options');
    expect(authz.load_assignment.endpoints[0].lb_endpoints[0].endpoint.address.socket_address).to.deep.equal({ address: 'authz', port_value: 9191 });
    expect(authz.health_checks[0].grpc_health_check).to.deep.equal({ service_name: 'envoy.service.auth.v3.Authorization' });
    expect(doc.static_resources.listeners[0].address.socket_address.port_value).to.equal(8080);
  });

  it('routes every request to the cluster of the service Portcullis would match, naming that service to ext_authz', () => {
    const state = sampleState();
    const compiled = compileState(state);
    if (!compiled.ok) throw new Error(compiled.errors.join('\n'));
    const doc = wire(renderEnvoyBootstrap(state, settings));
    const requests: [string, string][] = [
      ['api.example.com', '/v1/chat/completions'],
      ['api.example.com:8443', '/v1/chat'],
      ['api.example.com', '/v1/chatty'],
      ['api.example.com', '/embed/query'],
      ['acme.tenants.example.com', '/v1/models'],
      ['acme.tenants.example.com', '/embed'],
      ['a.eu.tenants.example.com', '/v1/models'],
      ['a.eu.tenants.example.com', '/v2/models'],
      ['a.eu.tenants.example.com', '/embed'],
      ['tenants.example.com', '/embed'],
      ['other.example.com', '/embed/x'],
      ['other.example.com', '/embedding'],
      ['other.example.com', '/v1/chat'],
    ];
    for (const [host, path] of requests) {
      const match = compiled.state.matchRoute(host.replace(/:[0-9]+$/, ''), path, 'GET');
      const route = envoyRoute(doc, host, path);
      const expected = match.kind === 'matched' ? match.service.name : undefined;
      expect(route?.route.cluster, `${host}${path}`).to.equal(expected === undefined ? undefined : serviceCluster(expected));
      if (route) expect(route.typed_per_filter_config[EXT_AUTHZ_FILTER].check_settings.context_extensions).to.deep.equal({ service: expected });
    }
  });

  it('makes one cluster per service over the upstream origins, TLS (verified) where the upstream is https', () => {
    const doc = wire(renderEnvoyBootstrap(sampleState(), settings));
    const cluster = (name: string) => doc.static_resources.clusters.find((c: any) => c.name === serviceCluster(name));
    const addresses = (c: any) => c.load_assignment.endpoints[0].lb_endpoints.map((e: any) => e.endpoint.address.socket_address);
    expect(addresses(cluster('chat'))).to.deep.equal([
      { address: 'chat-a', port_value: 8000 },
      { address: 'chat-b', port_value: 8000 },
    ]);
    expect(cluster('chat')).not.to.have.any.keys('transport_socket', 'transport_socket_matches');
    const tenant = cluster('tenant-models');
    expect(addresses(tenant)).to.deep.equal([{ address: 'models.internal', port_value: 443 }]);
    expect(tenant.transport_socket.typed_config.sni).to.equal('models.internal');
    expect(tenant.transport_socket.typed_config.common_tls_context.validation_context.trusted_ca.filename).to.equal(settings.upstreamCaFile);
    const eu = cluster('eu-tenant-models');
    expect(eu.transport_socket_matches[0].match).to.deep.equal({ tls: true });
    expect(eu.load_assignment.endpoints[0].lb_endpoints.map((e: any) => Boolean(e.metadata))).to.deep.equal([true, false]);
  });

  it('renders gateway-config/envoy/envoy.json from the sample state (UPDATE_EXAMPLES=1 regenerates it)', () => {
    const rendered = `${JSON.stringify(renderEnvoyBootstrap(sampleState(), gatewaySettings()), null, 2)}\n`;
    expect(exampleIsCurrent('envoy/envoy.json', rendered), 'gateway-config/envoy/envoy.json is stale').to.equal(true);
  });
});
