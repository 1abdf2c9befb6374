import { expect } from 'chai';
import type { AllowDecision, Decision, HeaderPair } from '../../../authz-service/src/core/decision.js';
import type { ErrorCode } from '../../../authz-service/src/core/errors.js';
import { DEFAULT_IDENTITY_HEADERS } from '../../../authz-service/src/core/identity-headers.js';
import type { NormalizedRequest } from '../../../authz-service/src/core/request.js';
import { AuthzHttpServer } from '../../../authz-service/src/http/server.js';
import { TrustedProxies } from '../../../authz-service/src/http/trusted-proxies.js';
import { DecisionObserver } from '../../../authz-service/src/observability/decision-observer.js';
import { createLogger } from '../../../authz-service/src/observability/logger.js';
import { AuthzMetrics } from '../../../authz-service/src/observability/metrics.js';
import { StateSchema, type StateInput } from '../../../authz-service/src/state/schema.js';
import { send } from '../../../test/harness/http.js';
import { NginxProcess, nginxMainOptions } from '../../../test/harness/nginx.js';
import { freePort } from '../../../test/harness/ports.js';
import { type SampleUpstream, startSampleUpstream } from '../../../test/harness/upstream.js';
import { renderNginxConfig, renderNginxSite } from './nginx.js';
import { gatewaySettings } from './settings.js';
import { exampleIsCurrent, sampleState } from '../../../test/harness/gateway-examples.js';

const services = (input: StateInput['services']) => StateSchema.parse({ services: input }).services;

/** server_name → the location lines of its block, in order. */
function blocks(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] = [];
  for (const line of text.split('\n')) {
    const name = /^\s*server_name (\S+);/.exec(line)?.[1];
    if (name) out.set(name, (current = []));
    const loc = /^\s*location (= )?"?([^"\s{]+)"? \{/.exec(line);
    if (loc && !loc[2]!.startsWith('@') && loc[2] !== '/_portcullis_auth') current.push(`${loc[1] ?? ''}${loc[2]}`);
    const svc = /# service (\S+)/.exec(line)?.[1];
    if (svc) current[current.length - 1] += ` ${svc}`;
  }
  return out;
}

describe('renderNginxSite', () => {
  const settings = gatewaySettings({ authzHttpUrl: 'http://127.0.0.1:8181', listen: { host: '0.0.0.0', port: 8080 } });

  it('sends each request to the service the decision core would pick', () => {
    const text = renderNginxSite(
      {
        services: services([
          { name: 'any-v1', upstream_urls: ['http://10.0.0.1'], match: { path_prefix: '/v1' } },
          { name: 'any-v1-chat', upstream_urls: ['http://10.0.0.2'], match: { path_prefix: '/v1/chat' } },
          { name: 'exact', upstream_urls: ['http://10.0.0.3'], match: { host: 'api.example.com', path_prefix: '/v1/chat/x' } },
          { name: 'wild', upstream_urls: ['http://10.0.0.4'], match: { host: '*.example.com', path_prefix: '/v1' } },
          { name: 'root', upstream_urls: ['http://10.0.0.5'], match: { host: 'root.example.com' } },
        ]),
      },
      settings,
    );
    const b = blocks(text);
    expect([...b.keys()]).to.deep.equal(['_', 'api.example.com', 'root.example.com', '*.example.com']);
    // no host: host-less services only, longest prefix wins in nginx just as in the core
    expect(b.get('_')).to.deep.equal(['= /v1/chat any-v1-chat', '/v1/chat/ any-v1-chat', '= /v1 any-v1', '/v1/ any-v1', '/']);
    // api.example.com: its own service, then the wildcard's /v1 (which shadows every host-less /v1 service)
    expect(b.get('api.example.com')).to.deep.equal(['= /v1/chat/x exact', '/v1/chat/x/ exact', '= /v1 wild', '/v1/ wild', '/']);
    expect(b.get('*.example.com')).to.deep.equal(['= /v1 wild', '/v1/ wild', '/']);
    // a service claiming all of a host shadows everything else there, and no 404 fallback is needed
    expect(b.get('root.example.com')).to.deep.equal(['/ root']);
  });

  it('overwrites identity headers, strips credentials unless forwarded, and keeps auth subrequests lean', () => {
    const text = renderNginxSite(
      {
        services: services([
          { name: 'strip', upstream_urls: ['http://10.0.0.1:9000'], match: { path_prefix: '/a' } },
          { name: 'keep', upstream_urls: ['https://models.internal'], match: { path_prefix: '/b' }, forward_credentials: true },
        ]),
      },
      settings,
      { upstreams: { strip: ['127.0.0.1:1234'] } },
    );
    const location = (svc: string) => text.slice(text.indexOf(`# service ${svc}`), text.indexOf('proxy_pass', text.indexOf(`# service ${svc}`)));
    for (const header of Object.values(DEFAULT_IDENTITY_HEADERS)) expect(location('strip')).to.contain(`proxy_set_header ${header} $pc_`);
    expect(location('strip')).to.contain('proxy_set_header Authorization "";');
    expect(location('strip')).to.contain('proxy_set_header X-Api-Key "";');
    expect(location('keep')).not.to.contain('proxy_set_header Authorization');
    expect(text).to.contain('upstream portcullis_svc_strip {\n  server 127.0.0.1:1234;');
    expect(text).to.contain('upstream portcullis_svc_keep {\n  server models.internal:443;');
    expect(text).to.contain('proxy_pass https://portcullis_svc_keep;');
    expect(text).to.match(/upstream portcullis_authz \{\n {2}server 127\.0\.0\.1:8181;\n {2}keepalive \d+;/);
    const balanced = renderNginxSite({ services: [] }, settings, { authzServers: ['10.0.0.7:8181', '10.0.0.8:8181'] });
    expect(balanced).to.match(/upstream portcullis_authz \{\n {2}server 10\.0\.0\.7:8181;\n {2}server 10\.0\.0\.8:8181;\n {2}keepalive \d+;/);
    expect(balanced).to.contain('proxy_next_upstream error timeout http_503;');
    for (const directive of ['proxy_pass_request_body off;', 'proxy_set_header X-Original-URI $request_uri;', 'proxy_set_header X-Original-Method $request_method;', 'proxy_set_header X-Forwarded-Uri "";']) {
      expect(text).to.contain(directive);
    }
  });

  it('keeps gateway-config/nginx/portcullis.conf equal to what it renders (UPDATE_EXAMPLES=1 rewrites it)', () => {
    const rendered = renderNginxSite(sampleState(), gatewaySettings({ listen: { host: '0.0.0.0', port: 80 } }));
    expect(exampleIsCurrent('nginx/portcullis.conf', rendered)).to.equal(true);
  });

  it('refuses identity header names nginx cannot address', () => {
    expect(() => renderNginxSite({ services: [] }, gatewaySettings({ identityHeaders: { ...DEFAULT_IDENTITY_HEADERS, subject: 'X.User' } }))).to.throw(RangeError);
  });
});

/**
 * Real nginx on the rendered config, in front of the real HTTP adapter driven by a scripted engine: proves
 * the nginx side of the contract (status pass-through, headers both ways) independently of the decision core.
 */
describe('rendered nginx config on real nginx', function () {
  this.timeout(30_000);
  let upstream: SampleUpstream;
  let authz: AuthzHttpServer;
  let nginx: NginxProcess;
  let nginxPort: number;
  let authzPort: number;
  const asked: NormalizedRequest[] = [];

  const deny = (code: ErrorCode, headers: HeaderPair[] = []): Decision => ({ kind: 'deny', id: `dec-${code}`, code, detail: code, headers });
  const allow: AllowDecision = {
    kind: 'allow',
    id: 'dec-allow',
    route: { service: 'llm', route: 'default' },
    principal: { authMethod: 'api_key', subject: 'alice', consumerId: 'alice', keyId: 'k1', scopes: new Set(['chat']), roles: new Set() },
    upstreamHeaders: [
      [DEFAULT_IDENTITY_HEADERS.subject, 'alice'],
      [DEFAULT_IDENTITY_HEADERS.keyId, 'k1'],
      [DEFAULT_IDENTITY_HEADERS.decisionId, 'dec-allow'],
    ],
    removeHeaders: ['x-api-key'],
    removeQueryParams: [],
    responseHeaders: [
      ['RateLimit', '"1s";r=9;t=1'],
      ['RateLimit-Policy', '"1s";q=10;w=1'],
    ],
  };
  const script: Record<string, Decision> = {
    '/llm/allow': allow,
    '/llm/401': deny('missing_credential', [['WWW-Authenticate', 'Bearer realm="portcullis", ApiKey header="X-API-Key"']]),
    '/llm/403': deny('insufficient_scope'),
    '/llm/429': deny('rate_limited', [
      ['Retry-After', '7'],
      ['RateLimit-Policy', '"1s";q=10;w=1'],
      ['RateLimit', '"1s";r=0;t=7'],
    ]),
    '/llm/400': deny('invalid_request'),
    '/llm/404': deny('no_route'),
    '/llm/503': deny('dependency_unavailable'),
  };

  before(async () => {
    upstream = await startSampleUpstream();
    const metrics = new AuthzMetrics();
    const logger = createLogger({ level: 'silent' });
    authz = new AuthzHttpServer({
      engine: {
        decide: async (req) => {
          asked.push(req);
          return script[req.path] ?? deny('forbidden');
        },
      },
      trustedProxies: new TrustedProxies(['127.0.0.1/32']),
      observer: new DecisionObserver({ metrics, logger, allowSampleRate: 0 }),
      metrics,
      logger,
      identityHeaders: DEFAULT_IDENTITY_HEADERS,
      ready: () => true,
    });
    authzPort = (await authz.listen(0, '127.0.0.1')).port;
    nginxPort = await freePort();
    const state = { services: services([{ name: 'llm', upstream_urls: ['http://upstream.invalid'], match: { path_prefix: '/llm' } }]) };
    const settings = gatewaySettings({ authzHttpUrl: `http://127.0.0.1:${authzPort}`, listen: { host: '127.0.0.1', port: nginxPort } });
    const options = { upstreams: { llm: [`127.0.0.1:${upstream.port}`] } };
    nginx = await NginxProcess.start((prefix) => renderNginxConfig(state, settings, nginxMainOptions(prefix), options), nginxPort);
  });
  after(async () => {
    await nginx?.stop();
    await authz?.close(1000);
    await upstream?.close();
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => send(nginxPort, { path, headers, method });

  it('passes the original method, URI and host to the authz-service and the identity to the upstream', async () => {
    const res = await get('/llm/allow?q=1', { host: 'models.example', 'x-api-key': 'pc_secret', authorization: 'Bearer pc_secret', [DEFAULT_IDENTITY_HEADERS.subject]: 'mallory', 'x-forwarded-uri': '/spoof' }, 'POST');
    expect(res.status).to.equal(200);
    expect(asked.at(-1)).to.include({ method: 'POST', host: 'models.example', path: '/llm/allow', query: 'q=1', clientIp: '127.0.0.1' });
    const seen = res.json<{ headers: Record<string, string>; url: string; method: string }>();
    expect(seen.method).to.equal('POST');
    expect(seen.url).to.equal('/llm/allow?q=1');
    expect(seen.headers['x-portcullis-subject']).to.equal('alice');
    expect(seen.headers['x-portcullis-key-id']).to.equal('k1');
    expect(seen.headers['x-portcullis-decision-id']).to.equal('dec-allow');
    expect(seen.headers['x-portcullis-plan']).to.equal(undefined);
    expect(seen.headers['x-api-key']).to.equal(undefined);
    expect(seen.headers['authorization']).to.equal(undefined);
    expect(res.headers['ratelimit']).to.equal('"1s";r=9;t=1');
    expect(res.headers['ratelimit-policy']).to.equal('"1s";q=10;w=1');
  });

  it('passes 401 with WWW-Authenticate and a problem document', async () => {
    const res = await get('/llm/401');
    expect(res.status).to.equal(401);
    expect(res.headers['www-authenticate']).to.equal('Bearer realm="portcullis", ApiKey header="X-API-Key"');
    expect(res.headers['content-type']).to.equal('application/problem+json');
    expect(res.json()).to.deep.include({ status: 401, code: 'missing_credential', instance: 'dec-missing_credential', title: 'Credentials are required' });
  });

  it('passes 403', async () => {
    const res = await get('/llm/403');
    expect(res.status).to.equal(403);
    expect(res.json()).to.include({ code: 'insufficient_scope', status: 403 });
  });

  it('passes 429 with Retry-After and RateLimit headers instead of nginx 500', async () => {
    const res = await get('/llm/429');
    expect(res.status).to.equal(429);
    expect(res.headers['retry-after']).to.equal('7');
    expect(res.headers['ratelimit']).to.equal('"1s";r=0;t=7');
    expect(res.headers['ratelimit-policy']).to.equal('"1s";q=10;w=1');
    expect(res.headers['x-portcullis-error']).to.equal('rate_limited');
    expect(res.json()).to.deep.include({ status: 429, code: 'rate_limited', title: 'Rate limit exceeded', instance: 'dec-rate_limited' });
  });

  it('passes 400, 404 and 503', async () => {
    for (const [path, status, code] of [
      ['/llm/400', 400, 'invalid_request'],
      ['/llm/404', 404, 'no_route'],
      ['/llm/503', 503, 'dependency_unavailable'],
    ] as const) {
      const res = await get(path);
      expect(res.status, path).to.equal(status);
      expect(res.json(), path).to.include({ code, status });
    }
  });

  it('answers 404 no_route itself for paths no service claims', async () => {
    const before = asked.length;
    const res = await get('/elsewhere');
    expect(res.status).to.equal(404);
    expect(res.json()).to.include({ code: 'no_route' });
    expect(asked.length).to.equal(before);
  });

  it('matches prefixes by whole segments', async () => {
    expect((await get('/llmx')).status).to.equal(404);
    expect(asked.at(-1)?.path).not.to.equal('/llmx');
  });

  it('asks the next replica when one is down or answers 503, and reports the last answer (not the list of attempts)', async () => {
    const deadPort = await freePort();
    let sickAsked = 0;
    const sickMetrics = new AuthzMetrics();
    const sickLogger = createLogger({ level: 'silent' });
    // a replica without state: every decision is a 503
    const sick = new AuthzHttpServer({
      engine: { decide: async () => (sickAsked++, deny('state_stale')) },
      trustedProxies: new TrustedProxies(['127.0.0.1/32']),
      observer: new DecisionObserver({ metrics: sickMetrics, logger: sickLogger, allowSampleRate: 0 }),
      metrics: sickMetrics,
      logger: sickLogger,
      identityHeaders: DEFAULT_IDENTITY_HEADERS,
      ready: () => false,
    });
    const sickPort = (await sick.listen(0, '127.0.0.1')).port;
    const port = await freePort();
    const state = { services: services([{ name: 'llm', upstream_urls: ['http://upstream.invalid'], match: { path_prefix: '/llm' } }]) };
    const settings = gatewaySettings({ authzHttpUrl: 'http://authz.invalid:8181', listen: { host: '127.0.0.1', port } });
    const options = { upstreams: { llm: [`127.0.0.1:${upstream.port}`] }, authzServers: [`127.0.0.1:${deadPort}`, `127.0.0.1:${sickPort}`, `127.0.0.1:${authzPort}`] };
    const balanced = await NginxProcess.start((prefix) => renderNginxConfig(state, settings, nginxMainOptions(prefix), options), port);
    try {
      for (let i = 0; i < 4; i++) {
        const limited = await send(port, { path: '/llm/429' });
        expect(limited.status, `429 #${i}`).to.equal(429);
        expect(limited.headers['retry-after']).to.equal('7');
        expect(limited.json()).to.include({ code: 'rate_limited' });
        expect((await send(port, { path: '/llm/allow' })).status, `allow #${i}`).to.equal(200);
      }
      expect(sickAsked, 'the 503 replica was asked first at least once').to.be.greaterThan(0);
    } finally {
      await balanced.stop();
      await sick.close(100);
    }
  });

  it('fails closed with 503 when the authz-service is unreachable', async () => {
    await authz.close(100);
    const res = await get('/llm/allow');
    expect(res.status).to.equal(503);
    expect(res.json()).to.include({ code: 'dependency_unavailable' });
  });
});
