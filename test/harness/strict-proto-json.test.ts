import { expect } from 'chai';
import { BOOTSTRAP_TYPE, bootstrapProtoRoot } from './envoy-protos.js';
import { strictProtoJsonErrors } from './strict-proto-json.js';

/** A minimal valid bootstrap with one packed filter, to break in one place per test. */
function bootstrap(): any {
  return {
    admin: { address: { socket_address: { address: '127.0.0.1', port_value: 9901 } } },
    static_resources: {
      listeners: [
        {
          name: 'l',
          address: { socket_address: { address: '0.0.0.0', port_value: 10000 } },
          filter_chains: [
            {
              filters: [
                {
                  name: 'envoy.filters.network.http_connection_manager',
                  typed_config: {
                    '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                    stat_prefix: 'x',
                    route_config: { name: 'r', virtual_hosts: [{ name: 'v', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'c', timeout: '1.5s' } }] }] },
                    http_filters: [
                      {
                        name: 'envoy.filters.http.ext_authz',
                        typed_config: {
                          '@type': 'type.googleapis.com/envoy.extensions.filters.http.ext_authz.v3.ExtAuthz',
                          grpc_service: { envoy_grpc: { cluster_name: 'authz' } },
                          transport_api_version: 'V3',
                        },
                      },
                      { name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } },
                    ],
                  },
                },
              ],
            },
          ],
        },
      ],
      clusters: [{ name: 'c', type: 'STRICT_DNS', connect_timeout: '1s', per_connection_buffer_limit_bytes: 32768 }],
    },
  };
}

const hcm = (b: any) => b.static_resources.listeners[0].filter_chains[0].filters[0].typed_config;
const extAuthz = (b: any) => hcm(b).http_filters[0].typed_config;

describe('strictProtoJsonErrors (Envoy bootstrap JSON against the official protos)', () => {
  const root = bootstrapProtoRoot();
  const errors = (doc: unknown) => strictProtoJsonErrors(root, BOOTSTRAP_TYPE, doc);

  it('accepts a valid bootstrap, with wrappers, durations and JSON (lowerCamel) names', () => {
    expect(errors(bootstrap())).to.deep.equal([]);
    const camel = bootstrap();
    camel.staticResources = camel.static_resources;
    delete camel.static_resources;
    expect(errors(camel)).to.deep.equal([]);
  });

  it('fails a misspelt field, at the top and inside a packed typed_config', () => {
    const top = bootstrap();
    top.static_resource = top.static_resources;
    delete top.static_resources;
    expect(errors(top)).to.deep.equal(['.static_resource: unknown field of envoy.config.bootstrap.v3.Bootstrap']);

    const nested = bootstrap();
    extAuthz(nested).transport_api_versoin = 'V3';
    expect(errors(nested)).to.have.length(1);
    expect(errors(nested)[0]).to.match(/typed_config\.transport_api_versoin: unknown field of envoy\.extensions\.filters\.http\.ext_authz\.v3\.ExtAuthz$/);
  });

  it('fails an unknown @type, a bad enum value, a bad duration and a wrongly typed scalar', () => {
    const doc = bootstrap();
    hcm(doc).http_filters[1].typed_config['@type'] = 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Routr';
    extAuthz(doc).transport_api_version = 'V4';
    hcm(doc).route_config.virtual_hosts[0].routes[0].route.timeout = '1500ms';
    doc.static_resources.clusters[0].per_connection_buffer_limit_bytes = '32k';
    const found = errors(doc).join('\n');
    expect(found).to.contain('unknown message type envoy.extensions.filters.http.router.v3.Routr');
    expect(found).to.contain('"V4" is not a value of enum');
    expect(found).to.contain('expected a duration');
    expect(found).to.contain('expected uint32, got "32k"');
    expect(errors(doc)).to.have.length(4);
  });

  it('fails two members of one oneof, a missing required oneof and a missing required string', () => {
    const doc = bootstrap();
    hcm(doc).route_config.virtual_hosts[0].routes[0].match.path = '/x';
    delete extAuthz(doc).grpc_service.envoy_grpc.cluster_name;
    const found = errors(doc).join('\n');
    expect(found).to.contain('oneof path_specifier has prefix and path set');
    expect(found).to.match(/envoy_grpc\.cluster_name: needs at least 1 character/);

    const noAction = bootstrap();
    delete hcm(noAction).route_config.virtual_hosts[0].routes[0].route;
    expect(errors(noAction).join('\n')).to.contain('oneof action requires one of');
  });

  it('fails deprecated fields and nulls', () => {
    const doc = bootstrap();
    doc.static_resources.clusters[0].http2_protocol_options = {};
    doc.static_resources.clusters[0].lb_policy = null;
    expect(errors(doc)).to.deep.equal([
      '.static_resources.clusters[0].http2_protocol_options: deprecated field',
      '.static_resources.clusters[0].lb_policy: null (leave the field out instead)',
    ]);
  });
});
