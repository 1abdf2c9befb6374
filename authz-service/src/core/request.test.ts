import { expect } from 'chai';
import { normalizeHost, normalizeTarget, queryParam } from './request.js';

describe('normalizeTarget', () => {
  const ok = (target: string) => {
    const r = normalizeTarget(target);
    if (!r.ok) throw new Error(`expected ok for ${target}: ${r.reason}`);
    return r;
  };

  it('splits path and query and leaves clean paths alone', () => {
    expect(ok('/v1/chat/completions?stream=true&x=1')).to.deep.equal({ ok: true, path: '/v1/chat/completions', query: 'stream=true&x=1' });
    expect(ok('/')).to.deep.equal({ ok: true, path: '/', query: '' });
    expect(ok('')).to.deep.equal({ ok: true, path: '/', query: '' });
  });

  it('resolves dot segments so that routing sees what the upstream will', () => {
    expect(ok('/v1/../admin').path).to.equal('/admin');
    expect(ok('/v1/./models').path).to.equal('/v1/models');
    expect(ok('/v1//models').path).to.equal('/v1/models');
    expect(ok('/v1/%2e%2e/admin').path).to.equal('/admin');
    expect(ok('/v1/%2E/x').path).to.equal('/v1/x');
    expect(ok('/a/b/..').path).to.equal('/a/');
  });

  it('decodes unreserved escapes only', () => {
    expect(ok('/v1/%6dodels').path).to.equal('/v1/models');
    expect(ok('/v1/a%20b').path).to.equal('/v1/a%20b');
  });

  it('refuses targets an upstream could read differently', () => {
    for (const bad of ['/v1/%2F../admin', '/v1\\..\\admin', '/v1/%5c', '/../etc/passwd', '/a/%00', 'relative', '/x%zz', '/' + 'a'.repeat(9000)]) {
      expect(normalizeTarget(bad).ok, bad).to.equal(false);
    }
  });

  it('accepts absolute-form targets', () => {
    expect(ok('http://api.example.com/v1/models?a=b')).to.deep.equal({ ok: true, path: '/v1/models', query: 'a=b' });
  });

  it('drops fragments', () => {
    expect(ok('/a#frag')).to.deep.equal({ ok: true, path: '/a', query: '' });
    expect(ok('/a?x=1#frag')).to.deep.equal({ ok: true, path: '/a', query: 'x=1' });
  });
});

describe('normalizeHost / queryParam', () => {
  it('lower-cases and strips ports', () => {
    expect(normalizeHost('API.Example.com:8443')).to.equal('api.example.com');
    expect(normalizeHost('[::1]:80')).to.equal('[::1]');
    expect(normalizeHost(undefined)).to.equal('');
  });
  it('reads query parameters', () => {
    expect(queryParam('user_key=abc&x=1', 'user_key')).to.equal('abc');
    expect(queryParam('x=1', 'user_key')).to.equal(undefined);
    expect(queryParam('', 'user_key')).to.equal(undefined);
  });
});
