import { expect } from 'chai';
import type { IncomingHttpHeaders } from 'node:http';
import { clientIpFromChain, type ForwardAuthCall, normalizeForwardAuthCall } from './forwarded.js';
import { TrustedProxies } from './trusted-proxies.js';

const trusted = new TrustedProxies(['127.0.0.1/32', '10.0.0.0/8']);

function call(headers: IncomingHttpHeaders, over: Partial<ForwardAuthCall> = {}): ForwardAuthCall {
  return { method: 'GET', url: '/forward-auth', headers, remoteAddress: '127.0.0.1', peerTrusted: true, ...over };
}

function ok(c: ForwardAuthCall) {
  const r = normalizeForwardAuthCall(c, trusted);
  if (!r.ok) throw new Error(r.reason);
  return r.request;
}

describe('normalizeForwardAuthCall', () => {
  it('reads the original request from Traefik forwardAuth headers', () => {
    const r = ok(
      call({
        host: 'authz:8181',
        'x-forwarded-method': 'post',
        'x-forwarded-proto': 'https',
        'x-forwarded-host': 'API.Example.com:443',
        'x-forwarded-uri': '/v1/chat/../models?stream=true',
        'x-forwarded-for': '203.0.113.9',
        authorization: 'Bearer x',
      }),
    );
    expect(r).to.include({ method: 'POST', scheme: 'https', host: 'api.example.com', path: '/v1/models', query: 'stream=true', clientIp: '203.0.113.9', adapter: 'forward_auth' });
    expect(r.headers['authorization']).to.equal('Bearer x');
  });

  it('reads the original request from nginx auth_request headers', () => {
    const r = ok(
      call({
        host: 'portcullis_authz',
        'x-original-method': 'DELETE',
        'x-original-uri': '/v1/files/1?user_key=abc',
        'x-original-host': 'models.internal',
        'x-forwarded-proto': 'http',
        'x-forwarded-for': '198.51.100.4, 127.0.0.1',
      }),
    );
    expect(r).to.include({ method: 'DELETE', scheme: 'http', host: 'models.internal', path: '/v1/files/1', query: 'user_key=abc', clientIp: '198.51.100.4' });
  });

  it('falls back from X-Original-Host to X-Forwarded-Host to Host, and uses X-Real-IP without X-Forwarded-For', () => {
    expect(ok(call({ host: 'h1', 'x-forwarded-host': 'h2', 'x-original-uri': '/' })).host).to.equal('h2');
    expect(ok(call({ host: 'h1:80', 'x-original-uri': '/' })).host).to.equal('h1');
    expect(ok(call({ host: 'h1', 'x-original-uri': '/', 'x-real-ip': '198.51.100.7' })).clientIp).to.equal('198.51.100.7');
    expect(ok(call({ host: 'h1', 'x-original-uri': '/', 'x-real-ip': 'not-an-ip' })).clientIp).to.equal('127.0.0.1');
  });

  it('ignores every forwarded header from an untrusted peer', () => {
    const r = ok(
      call(
        {
          host: 'Direct.Example:8181',
          'x-forwarded-method': 'DELETE',
          'x-forwarded-proto': 'https',
          'x-forwarded-host': 'victim.example',
          'x-forwarded-uri': '/admin',
          'x-original-uri': '/admin',
          'x-original-method': 'DELETE',
          'x-original-host': 'victim.example',
          'x-forwarded-for': '10.0.0.1',
          'x-real-ip': '10.0.0.1',
        },
        { method: 'PUT', url: '/forward-auth?x=1', remoteAddress: '::ffff:198.51.100.66', peerTrusted: false },
      ),
    );
    expect(r).to.include({ method: 'PUT', scheme: 'http', host: 'direct.example', path: '/forward-auth', query: 'x=1', clientIp: '198.51.100.66' });
  });

  it('refuses a target that fails normalisation or a method that is not a token', () => {
    const bad = normalizeForwardAuthCall(call({ 'x-forwarded-uri': '/v1/%2e%2e/%2e%2e/etc' }), trusted);
    expect(bad.ok).to.equal(false);
    expect(normalizeForwardAuthCall(call({ 'x-forwarded-uri': '/a%2fb' }), trusted).ok).to.equal(false);
    expect(normalizeForwardAuthCall(call({ 'x-forwarded-uri': '/', 'x-forwarded-method': 'GET /x' }), trusted).ok).to.equal(false);
  });

  it('refuses a request whose X-Original-* and X-Forwarded-* families disagree (a client smuggling the family its gateway does not set)', () => {
    // behind Traefik, which sets X-Forwarded-* and passes a client's X-Original-URI through
    const smuggled = normalizeForwardAuthCall(call({ 'x-forwarded-uri': '/private', 'x-forwarded-method': 'GET', 'x-original-uri': '/public' }), trusted);
    expect(smuggled).to.deep.equal({ ok: false, reason: 'X-Original-* and X-Forwarded-* headers disagree about the original request' });
    expect(normalizeForwardAuthCall(call({ 'x-forwarded-uri': '/', 'x-original-method': 'POST', 'x-forwarded-method': 'GET' }), trusted).ok).to.equal(false);
    expect(normalizeForwardAuthCall(call({ 'x-forwarded-uri': '/', 'x-original-host': 'a', 'x-forwarded-host': 'b' }), trusted).ok).to.equal(false);
    // the rendered nginx config sets X-Original-Host and X-Forwarded-Host to the same $host
    expect(ok(call({ 'x-original-uri': '/x', 'x-original-host': 'h', 'x-forwarded-host': 'h' }))).to.include({ host: 'h', path: '/x' });
  });

  it('takes the first value of comma-joined single-value headers', () => {
    const r = ok(call({ 'x-forwarded-uri': '/', 'x-forwarded-proto': 'https, http', 'x-forwarded-host': 'a.example, b.example' }));
    expect(r.scheme).to.equal('https');
    expect(r.host).to.equal('a.example');
  });
});

describe('clientIpFromChain', () => {
  it('takes the rightmost hop that is not a trusted proxy', () => {
    expect(clientIpFromChain('6.6.6.6, 203.0.113.1, 10.0.0.2, 127.0.0.1', '10.0.0.3', trusted)).to.equal('203.0.113.1');
    expect(clientIpFromChain('203.0.113.1', '127.0.0.1', trusted)).to.equal('203.0.113.1');
  });

  it('falls back to the peer or the last verified hop', () => {
    expect(clientIpFromChain('', '127.0.0.1', trusted)).to.equal('127.0.0.1');
    expect(clientIpFromChain('10.0.0.5, 10.0.0.6', '127.0.0.1', trusted)).to.equal('10.0.0.5');
    expect(clientIpFromChain('garbage, 10.0.0.6', '127.0.0.1', trusted)).to.equal('10.0.0.6');
    expect(clientIpFromChain('203.0.113.1, not-an-ip', '127.0.0.1', trusted)).to.equal('127.0.0.1');
    expect(clientIpFromChain('[2001:db8::1]', '127.0.0.1', trusted)).to.equal('2001:db8::1');
  });
});
