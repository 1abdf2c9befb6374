import { expect } from 'chai';
import { Agent, request } from 'node:http';
import { Writable } from 'node:stream';
import { send, sendRaw } from '../../../test/harness/http.js';
import type { AllowDecision, Decision, DenyDecision } from '../core/decision.js';
import type { DecisionEngine } from '../core/engine.js';
import { DEFAULT_IDENTITY_HEADERS } from '../core/identity-headers.js';
import type { NormalizedRequest } from '../core/request.js';
import { DecisionObserver, observedEngine } from '../observability/decision-observer.js';
import { createLogger } from '../observability/logger.js';
import { AuthzMetrics } from '../observability/metrics.js';
import { AuthzHttpServer } from './server.js';
import { TrustedProxies } from './trusted-proxies.js';

/** A fake engine: answers whatever the test sets, and remembers what it was asked. */
class FakeEngine implements DecisionEngine {
  seen: NormalizedRequest[] = [];
  answer: (req: NormalizedRequest) => Decision | Promise<Decision> = () => allow;
  async decide(req: NormalizedRequest): Promise<Decision> {
    this.seen.push(req);
    return this.answer(req);
  }
}

const allow: AllowDecision = {
  kind: 'allow',
  id: 'dec-1',
  route: { service: 'llm', route: 'chat' },
  principal: { authMethod: 'api_key', subject: 'c1', consumerId: 'c1', keyId: 'k1', scopes: new Set(), roles: new Set() },
  upstreamHeaders: [
    ['X-Portcullis-Subject', 'c1'],
    ['X-Portcullis-Key-Id', 'k1'],
  ],
  removeHeaders: ['x-api-key'],
  removeQueryParams: [],
  responseHeaders: [['RateLimit', '"1s";r=9;t=1']],
};

const limited: DenyDecision = {
  kind: 'deny',
  id: 'dec-2',
  code: 'rate_limited',
  detail: 'Rate limit of 10 per 1s exceeded',
  headers: [
    ['Retry-After', '1'],
    ['RateLimit-Policy', '"1s";q=10;w=1'],
  ],
  route: { service: 'llm', route: 'chat' },
};

describe('AuthzHttpServer', () => {
  const engine = new FakeEngine();
  const metrics = new AuthzMetrics();
  const logLines: string[] = [];
  const logger = createLogger({ level: 'info', destination: new Writable({ write: (c, _e, cb) => (logLines.push(String(c)), cb()) }) });
  let ready = true;
  let server: AuthzHttpServer;
  let port: number;

  before(async () => {
    const observer = new DecisionObserver({ metrics, logger, allowSampleRate: 0 });
    server = new AuthzHttpServer({
      engine: observedEngine(engine, observer),
      trustedProxies: new TrustedProxies(['127.0.0.1/32']),
      observer,
      metrics,
      logger,
      identityHeaders: DEFAULT_IDENTITY_HEADERS,
      ready: () => ready,
      maxHeaderBytes: 4096,
    });
    port = (await server.listen(0, '0.0.0.0')).port;
  });
  after(() => server.close(1000));
  beforeEach(() => {
    engine.seen = [];
    engine.answer = () => allow;
  });

  const forwardAuth = (headers: Record<string, string>, extra: { method?: string; localAddress?: string; path?: string } = {}) =>
    send(port, { path: extra.path ?? '/forward-auth', headers, method: extra.method ?? 'GET', ...(extra.localAddress ? { localAddress: extra.localAddress } : {}) });

  it('allows with 200, identity and rate-limit headers and an empty body', async () => {
    const res = await forwardAuth({ 'x-forwarded-uri': '/llm/v1/chat', 'x-forwarded-host': 'api.example.com', 'x-api-key': 'pc_x' });
    expect(res.status).to.equal(200);
    expect(res.body).to.equal('');
    expect(res.headers['x-portcullis-subject']).to.equal('c1');
    expect(res.headers['x-portcullis-key-id']).to.equal('k1');
    expect(res.headers['ratelimit']).to.equal('"1s";r=9;t=1');
    expect(engine.seen[0]).to.include({ host: 'api.example.com', path: '/llm/v1/chat', adapter: 'forward_auth' });
    expect(engine.seen[0]!.headers['x-api-key']).to.equal('pc_x');
  });

  it('denies with the catalog status, the decision headers and a problem+json body', async () => {
    engine.answer = () => limited;
    const res = await forwardAuth({ 'x-forwarded-uri': '/llm/v1/chat' });
    expect(res.status).to.equal(429);
    expect(res.headers['content-type']).to.equal('application/problem+json');
    expect(res.headers['retry-after']).to.equal('1');
    expect(res.headers['ratelimit-policy']).to.equal('"1s";q=10;w=1');
    expect(res.headers['x-portcullis-error']).to.equal('rate_limited');
    expect(res.headers['x-portcullis-decision-id']).to.equal('dec-2');
    expect(res.json()).to.deep.include({ status: 429, code: 'rate_limited', instance: 'dec-2', detail: 'Rate limit of 10 per 1s exceeded' });
    expect(res.json()['type']).to.equal('https://portcullis.dev/problems/rate_limited');
  });

  it('sends WWW-Authenticate with a 401', async () => {
    engine.answer = () => ({ kind: 'deny', id: 'd', code: 'missing_credential', detail: 'No credential', headers: [['WWW-Authenticate', 'Bearer realm="portcullis"']] });
    const res = await forwardAuth({});
    expect(res.status).to.equal(401);
    expect(res.headers['www-authenticate']).to.equal('Bearer realm="portcullis"');
  });

  it('denies an original target that cannot be normalised with invalid_request, without asking the engine', async () => {
    const res = await forwardAuth({ 'x-forwarded-uri': '/../../etc/passwd' });
    expect(res.status).to.equal(400);
    expect(res.json()).to.include({ code: 'invalid_request' });
    expect(res.json()['instance']).to.be.a('string');
    expect(engine.seen).to.have.length(0);
  });

  it('turns an engine that throws, or an unencodable header, into internal_error and stays up', async () => {
    engine.answer = () => {
      throw new Error('bug');
    };
    const thrown = await forwardAuth({ 'x-forwarded-uri': '/' });
    expect(thrown.status).to.equal(500);
    expect(thrown.json()).to.include({ code: 'internal_error' });
    engine.answer = () => ({ ...allow, upstreamHeaders: [['X-Portcullis-Name', 'evil\r\nX-Injected: 1']] });
    const bad = await forwardAuth({ 'x-forwarded-uri': '/' });
    expect(bad.status).to.equal(500);
    expect(bad.headers['x-injected']).to.equal(undefined);
    expect((await send(port, { path: '/healthz' })).status).to.equal(200);
  });

  it('accepts any method on /forward-auth and sends no body for HEAD', async () => {
    engine.answer = () => limited;
    for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS', 'PATCH']) {
      expect((await forwardAuth({}, { method })).status, method).to.equal(429);
    }
    const head = await forwardAuth({}, { method: 'HEAD' });
    expect(head.status).to.equal(429);
    expect(head.body).to.equal('');
    expect((await forwardAuth({}, { path: '/forward-auth?x=1' })).status).to.equal(429);
  });

  it('judges an untrusted peer by its own request line, Host and address, ignoring spoofed forwarded headers', async () => {
    const spoof = {
      host: 'direct.example',
      'x-forwarded-method': 'DELETE',
      'x-forwarded-host': 'victim.example',
      'x-forwarded-uri': '/admin',
      'x-forwarded-proto': 'https',
      'x-forwarded-for': '10.9.9.9',
      'x-original-uri': '/admin',
      'x-original-host': 'victim.example',
      'x-real-ip': '10.9.9.9',
    };
    await forwardAuth(spoof, { localAddress: '127.0.0.2' });
    expect(engine.seen[0]).to.include({ method: 'GET', host: 'direct.example', path: '/forward-auth', scheme: 'http', clientIp: '127.0.0.2' });
    await forwardAuth(spoof, { localAddress: '127.0.0.1' });
    expect(engine.seen[1]).to.include({ method: 'DELETE', host: 'victim.example', path: '/admin', scheme: 'https', clientIp: '10.9.9.9' });
  });

  it('serves health, readiness and metrics', async () => {
    expect((await send(port, { path: '/healthz' })).json()).to.deep.equal({ status: 'ok' });
    ready = false;
    const notReady = await send(port, { path: '/readyz' });
    expect(notReady.status).to.equal(503);
    ready = true;
    expect((await send(port, { path: '/readyz' })).status).to.equal(200);
    const m = await send(port, { path: '/metrics' });
    expect(m.status).to.equal(200);
    expect(m.headers['content-type']).to.contain('text/plain');
    expect(m.body).to.contain('portcullis_authz_decisions_total{outcome="allow",reason="ok",adapter="forward_auth",service="llm"}');
    expect(m.body).to.contain('reason="invalid_request"');
    const options = await send(port, { path: '/healthz', method: 'OPTIONS' });
    expect(options.status).to.equal(204);
    expect(options.headers['allow']).to.equal('GET, HEAD, OPTIONS');
  });

  it('answers unknown paths with a 404 problem', async () => {
    const res = await send(port, { path: '/nope' });
    expect(res.status).to.equal(404);
    expect(res.headers['content-type']).to.equal('application/problem+json');
    expect(res.json()).to.include({ code: 'not_found' });
  });

  it('answers oversized and malformed requests with a problem document, and keeps serving', async () => {
    const big = await sendRaw(port, `GET /forward-auth HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(8000)}\r\n\r\n`);
    expect(big).to.match(/^HTTP\/1\.1 431 /);
    expect(big).to.contain('application/problem+json');
    expect(big).to.contain('"code":"request_header_too_large"');
    const garbage = await sendRaw(port, 'NOT HTTP AT ALL\r\n\r\n');
    expect(garbage).to.match(/^HTTP\/1\.1 400 /);
    expect(garbage).to.contain('"code":"invalid_request"');
    const badHeader = await sendRaw(port, 'GET /forward-auth HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n');
    expect(badHeader).to.match(/^HTTP\/1\.1 400 /);
    expect((await send(port, { path: '/healthz' })).status).to.equal(200);
  });
});

describe('AuthzHttpServer shutdown', () => {
  /** A ready server on the given engine, trusting loopback, logging nothing. */
  function quietServer(engine: DecisionEngine): AuthzHttpServer {
    const metrics = new AuthzMetrics();
    const logger = createLogger({ level: 'silent' });
    return new AuthzHttpServer({
      engine,
      trustedProxies: new TrustedProxies(['127.0.0.1/32']),
      observer: new DecisionObserver({ metrics, logger, allowSampleRate: 0 }),
      metrics,
      logger,
      identityHeaders: DEFAULT_IDENTITY_HEADERS,
      ready: () => true,
    });
  }

  it('finishes in-flight requests, then stops accepting', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = quietServer({ decide: async () => (await gate, allow) });
    const { port } = await server.listen(0, '127.0.0.1');
    const inFlight = send(port, { path: '/forward-auth' });
    await new Promise((r) => setTimeout(r, 50));
    const closing = server.close(5000);
    await new Promise((r) => setTimeout(r, 20));
    let refused = false;
    await send(port, { path: '/healthz' }).catch(() => (refused = true));
    expect(refused).to.equal(true);
    release();
    expect((await inFlight).status).to.equal(200);
    await closing;
  });
  it('drains: unready and closing each connection after its answer, even one in flight when draining began', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const server = quietServer({ decide: async (req) => (req.path === '/slow' ? (await gate, allow) : allow) });
    const { port } = await server.listen(0, '127.0.0.1');
    // a gateway's keep-alive pool: one connection reused for every request
    const agent = new Agent({ keepAlive: true, maxSockets: 2 });
    const get = (path: string, headers: Record<string, string> = {}) =>
      new Promise<{ status: number; connection: string | undefined; body: string }>((resolve, reject) => {
        request({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
          let body = '';
          res.on('data', (c) => (body += String(c)));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, connection: res.headers.connection, body }));
        })
          .on('error', reject)
          .end();
      });
    const trusted = { 'x-forwarded-host': 'api.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-method': 'GET' };
    try {
      expect((await get('/readyz')).connection).to.equal('keep-alive');
      const inFlight = get('/forward-auth', { ...trusted, 'x-forwarded-uri': '/slow' });
      await new Promise((r) => setTimeout(r, 50));
      server.startDraining();
      expect(server.draining).to.equal(true);
      const readyz = await get('/readyz');
      expect(readyz.status).to.equal(503);
      expect(JSON.parse(readyz.body)).to.include({ status: 'draining' });
      expect(readyz.connection).to.equal('close');
      // still deciding while draining: nobody has to retry anything yet
      const decided = await get('/forward-auth', { ...trusted, 'x-forwarded-uri': '/fast' });
      expect(decided).to.include({ status: 200, connection: 'close' });
      release();
      expect(await inFlight).to.include({ status: 200, connection: 'close' });
      const closed = server.close(10_000);
      // every connection closed after its answer, so close() is done long before the 10 s grace
      const started = Date.now();
      await closed;
      expect(Date.now() - started).to.be.below(5_000);
    } finally {
      release();
      agent.destroy();
      await server.close(100);
    }
  });
});
