import { readFileSync } from 'node:fs';
import { expect } from 'chai';
import { parse, parseAllDocuments } from 'yaml';
import { compileState } from '../../../authz-service/src/state/compile.js';
import { type StateInput, StateSchema, type StateSpec } from '../../../authz-service/src/state/schema.js';
import { identityHeaderList } from '../../../authz-service/src/core/identity-headers.js';
import { exampleIsCurrent, gatewayConfigPath, sampleState } from '../../../test/harness/gateway-examples.js';
import { expectValidTraefikDynamic as expectValid, validateTraefikDynamic as validate } from '../../../test/harness/traefik-schema.js';
import { gatewaySettings } from './settings.js';
import {
  FORWARD_AUTH_KEEP_CREDENTIALS_MIDDLEWARE,
  FORWARD_AUTH_MIDDLEWARE,
  forwardAuthMiddleware,
  renderTraefikConfig,
  type TraefikDynamicConfig,
  traefikRule,
} from './traefik.js';

const spec = (input: StateInput): StateSpec => StateSchema.parse(input);

const SAMPLE = spec({
  services: [
    { name: 'chat', upstream_urls: ['http://chat-a:8000/ignored', 'http://chat-b:8000'], match: { host: 'api.example.com', path_prefix: '/v1/chat' } },
    { name: 'api-root', upstream_urls: ['http://api:8000'], match: { host: 'api.example.com' } },
    { name: 'tenant', upstream_urls: ['https://tenant.internal'], match: { host: '*.tenants.example.com' } },
    { name: 'eu-tenant', upstream_urls: ['https://eu.internal:8443'], match: { host: '*.eu.tenants.example.com', path_prefix: '/v1/' } },
    { name: 'embeddings', upstream_urls: ['http://embed:9000'], match: { path_prefix: '/embed' }, forward_credentials: true },
    { name: 'catch-all', upstream_urls: ['http://fallback:80'], match: { path_prefix: '/' } },
  ],
});

/**
 * Evaluates the rule forms the renderer emits (Host, HostRegexp, Path, PathPrefix, &&, ||, parentheses)
 * the way Traefik v3 documents them: Host compares the host case-insensitively, PathPrefix is a plain
 * string prefix, HostRegexp is a Go regexp (here: the RE2 subset the renderer writes).
 */
function ruleMatches(rule: string, host: string, path: string): boolean {
  const tokens = rule.match(/[A-Za-z]+\(`[^`]*`\)|&&|\|\||\(|\)/g) ?? [];
  let i = 0;
  const primary = (): boolean => {
    const token = tokens[i++]!;
    if (token === '(') {
      const value = or();
      i++; // ')'
      return value;
    }
    const [, fn, arg] = /^([A-Za-z]+)\(`([^`]*)`\)$/.exec(token)!;
    switch (fn) {
      case 'Host':
        return host.toLowerCase() === arg!.toLowerCase();
      case 'HostRegexp': {
        const caseless = arg!.includes('(?i)');
        return new RegExp(arg!.replace('(?i)', ''), caseless ? 'i' : '').test(host);
      }
      case 'Path':
        return path === arg;
      case 'PathPrefix':
        return path.startsWith(arg!);
      default:
        throw new Error(`unexpected matcher ${fn}`);
    }
  };
  const and = (): boolean => {
    let value = primary();
    while (tokens[i] === '&&') {
      i++;
      value = primary() && value;
    }
    return value;
  };
  const or = (): boolean => {
    let value = and();
    while (tokens[i] === '||') {
      i++;
      value = and() || value;
    }
    return value;
  };
  const result = or();
  expect(i, `unparsed rest of ${rule}`).to.equal(tokens.length);
  return result;
}

/** The router Traefik would pick: highest priority among those whose rule matches. */
function traefikPick(config: TraefikDynamicConfig, host: string, path: string): string | undefined {
  const candidates = Object.entries(config.http.routers)
    .filter(([, router]) => ruleMatches(router.rule, host, path))
    .sort(([, a], [, b]) => b.priority - a.priority);
  if (candidates.length > 1) expect(candidates[0]![1].priority, 'a tie would make Traefik choose by name').to.be.greaterThan(candidates[1]![1].priority);
  return candidates[0]?.[1].service;
}

describe('renderTraefikConfig', () => {
  const settings = gatewaySettings({ authzHttpUrl: 'http://authz:8181/', entryPoints: ['web', 'websecure'] });

  it('renders documents that validate against the Traefik v3 dynamic-configuration schema', () => {
    expectValid(renderTraefikConfig(SAMPLE, settings));
    expectValid(renderTraefikConfig(spec({}), settings));
    expectValid(renderTraefikConfig(spec({ services: [SAMPLE.services[0]!] }), gatewaySettings()));
  });

  it('has a schema check that rejects what Traefik would (proof the validation can fail)', () => {
    const config = renderTraefikConfig(SAMPLE, settings) as unknown as { http: { middlewares: Record<string, { forwardAuth: Record<string, unknown> }> } };
    config.http.middlewares[FORWARD_AUTH_MIDDLEWARE]!.forwardAuth['authResponseHeader'] = ['X-Typo'];
    expect(validate(JSON.parse(JSON.stringify(config)))).to.equal(false);
  });

  it('routes every request to the service Portcullis itself would match', () => {
    const compiled = compileState(SAMPLE);
    if (!compiled.ok) throw new Error(compiled.errors.join('\n'));
    const config = renderTraefikConfig(SAMPLE, settings);
    const requests: [string, string][] = [
      ['api.example.com', '/v1/chat'],
      ['api.example.com', '/v1/chat/completions'],
      ['api.example.com', '/v1/chatty'],
      ['API.example.com', '/v1/chat/x'],
      ['api.example.com', '/embed/x'],
      ['acme.tenants.example.com', '/v1/x'],
      ['a.b.tenants.example.com', '/'],
      ['tenants.example.com', '/embed'],
      ['x.eu.tenants.example.com', '/v1/models'],
      ['x.eu.tenants.example.com', '/v2/models'],
      ['other.example.com', '/embed'],
      ['other.example.com', '/embedding'],
      ['other.example.com', '/'],
    ];
    for (const [host, path] of requests) {
      const match = compiled.state.matchRoute(host.toLowerCase(), path, 'GET');
      const expected = match.kind === 'matched' ? `portcullis-${match.service.name}` : undefined;
      expect(traefikPick(config, host, path), `${host}${path}`).to.equal(expected);
    }
  });

  it('sends every router through forwardAuth at the authz-service, stripping credentials unless the service forwards them', () => {
    const config = renderTraefikConfig(SAMPLE, settings);
    const identity = identityHeaderList(settings.identityHeaders);
    const strip = config.http.middlewares[FORWARD_AUTH_MIDDLEWARE]!.forwardAuth;
    expect(strip.address).to.equal('http://authz:8181/forward-auth');
    expect(strip.trustForwardHeader).to.equal(false);
    expect(strip.authResponseHeaders).to.have.members([...identity, 'Authorization', 'X-Api-Key']);
    const keep = config.http.middlewares[FORWARD_AUTH_KEEP_CREDENTIALS_MIDDLEWARE]!.forwardAuth;
    expect(keep.authResponseHeaders).to.have.members(identity);
    expect(config.http.routers['portcullis-embeddings']!.middlewares).to.deep.equal([FORWARD_AUTH_KEEP_CREDENTIALS_MIDDLEWARE]);
    expect(config.http.routers['portcullis-chat']!.middlewares).to.deep.equal([FORWARD_AUTH_MIDDLEWARE]);
    for (const router of Object.values(config.http.routers)) expect(router.entryPoints).to.deep.equal(['web', 'websecure']);
  });

  it('omits the keep-credentials middleware when no service needs it', () => {
    const config = renderTraefikConfig(spec({ services: [SAMPLE.services[0]!] }), settings);
    expect(Object.keys(config.http.middlewares)).to.deep.equal([FORWARD_AUTH_MIDDLEWARE]);
  });

  it('load-balances over the upstream origins, passing the client Host on', () => {
    const config = renderTraefikConfig(SAMPLE, settings);
    expect(config.http.services['portcullis-chat']).to.deep.equal({
      loadBalancer: { servers: [{ url: 'http://chat-a:8000' }, { url: 'http://chat-b:8000' }], passHostHeader: true },
    });
    expect(config.http.services['portcullis-eu-tenant']!.loadBalancer.servers).to.deep.equal([{ url: 'https://eu.internal:8443' }]);
  });

  it('writes segment-aware rules', () => {
    expect(traefikRule({ host: 'api.example.com', path_prefix: '/v1' })).to.equal('Host(`api.example.com`) && (Path(`/v1`) || PathPrefix(`/v1/`))');
    expect(traefikRule({ path_prefix: '/v1/' })).to.equal('PathPrefix(`/v1/`)');
    expect(traefikRule({ path_prefix: '/' })).to.equal('PathPrefix(`/`)');
    expect(traefikRule({ host: '*.example.com' })).to.equal('HostRegexp(`(?i)^.+\\.example\\.com$`)');
  });

  it('follows the state: adding or removing a service changes the document', () => {
    const before = renderTraefikConfig(spec({ services: [SAMPLE.services[0]!] }), settings);
    const after = renderTraefikConfig(spec({ services: [SAMPLE.services[0]!, SAMPLE.services[4]!] }), settings);
    expect(Object.keys(before.http.routers)).to.deep.equal(['portcullis-chat']);
    expect(Object.keys(after.http.routers)).to.have.members(['portcullis-chat', 'portcullis-embeddings']);
    expect(JSON.stringify(renderTraefikConfig(spec({ services: [SAMPLE.services[0]!] }), settings))).to.equal(JSON.stringify(before));
  });

  it('renders gateway-config/traefik/dynamic.example.json from the sample state (UPDATE_EXAMPLES=1 regenerates it)', () => {
    const document = renderTraefikConfig(sampleState(), gatewaySettings());
    expectValid(document);
    const rendered = `${JSON.stringify(document, null, 2)}\n`;
    expect(exampleIsCurrent('traefik/dynamic.example.json', rendered), 'gateway-config/traefik/dynamic.example.json is stale').to.equal(true);
  });

});

describe('gateway-config/traefik examples', () => {
  const read = (file: string) => readFileSync(gatewayConfigPath(`traefik/${file}`), 'utf8');
  const chatRule = () => traefikRule(sampleState().services.find((s) => s.name === 'chat')!.match);

  it('static configuration polls the control plane with an authentication header', () => {
    const config = parse(read('traefik.yml')) as { providers: { http: { endpoint: string; headers: Record<string, string> } } };
    expect(config.providers.http.endpoint).to.match(/\/v1\/gateway\/traefik$/);
    expect(config.providers.http.headers).to.have.property('Authorization');
  });

  it('docker labels declare the forwardAuth middleware exactly as the renderer does', () => {
    const compose = parse(read('docker-labels.compose.yml')) as { services: Record<string, { labels?: string[] }> };
    const labels = new Map(compose.services['chat']!.labels!.map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
    const prefix = `traefik.http.middlewares.${FORWARD_AUTH_MIDDLEWARE}.forwardAuth.`;
    const declared = {
      address: labels.get(`${prefix}address`),
      trustForwardHeader: labels.get(`${prefix}trustForwardHeader`) === 'true',
      authResponseHeaders: labels.get(`${prefix}authResponseHeaders`)?.split(','),
    };
    expect(declared).to.deep.equal(forwardAuthMiddleware(gatewaySettings({ authzHttpUrl: 'http://authz-service:8181' }), true).forwardAuth);
    expect(labels.get('traefik.http.routers.chat.rule')).to.equal(chatRule());
  });

  it('the Kubernetes Middleware CRD carries the rendered forwardAuth block, and the IngressRoute the rendered rule', () => {
    const [middleware, ingressRoute] = parseAllDocuments(read('kubernetes-middleware.yaml')).map((d) => d.toJS()) as any[];
    expect(middleware.kind).to.equal('Middleware');
    expect(middleware.spec.forwardAuth).to.deep.equal(
      forwardAuthMiddleware(gatewaySettings({ authzHttpUrl: 'http://portcullis-authz.portcullis.svc.cluster.local:8181' }), true).forwardAuth,
    );
    expect(ingressRoute.kind).to.equal('IngressRoute');
    expect(ingressRoute.spec.routes[0].match).to.equal(chatRule());
    expect(ingressRoute.spec.routes[0].middlewares).to.deep.equal([{ name: middleware.metadata.name }]);
  });
});
