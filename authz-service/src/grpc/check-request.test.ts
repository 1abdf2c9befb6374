import { expect } from 'chai';
import { normalizeCheckRequest } from './check-request.js';

describe('normalizeCheckRequest', () => {
  it('falls back to the pseudo-headers when the http fields are empty, and lower-cases header names', () => {
    const mapped = normalizeCheckRequest({
      attributes: {
        request: {
          http: { headers: { ':authority': 'Models.example.com:443', ':path': '/v2/embed?q=1', ':method': 'put', ':scheme': 'HTTPS', 'X-Api-Key': 'k' } },
        },
      },
    });
    expect(mapped.ok).to.equal(true);
    if (!mapped.ok) return;
    expect(mapped.request).to.include({ method: 'PUT', scheme: 'https', host: 'models.example.com', path: '/v2/embed', query: 'q=1', clientIp: '' });
    expect(mapped.request.headers['x-api-key']).to.equal('k');
    expect(mapped.request.headers).not.to.have.property('X-Api-Key');
  });

  it('refuses a request without HTTP attributes or with an ambiguous target', () => {
    expect(normalizeCheckRequest({}).ok).to.equal(false);
    const mapped = normalizeCheckRequest({ attributes: { request: { http: { method: 'GET', path: '/a/%2f/b', host: 'x' } } } });
    expect(mapped).to.deep.equal({ ok: false, reason: 'path contains an encoded slash, backslash or NUL' });
  });

  it('passes non-empty context_extensions only', () => {
    const http = { method: 'GET', path: '/', host: 'x' };
    const without = normalizeCheckRequest({ attributes: { request: { http }, context_extensions: {} } });
    expect(without.ok && without.request.contextExtensions).to.equal(undefined);
    const withRoute = normalizeCheckRequest({ attributes: { request: { http }, context_extensions: { service: 's', route: 'r' } } });
    expect(withRoute.ok && withRoute.request.contextExtensions).to.deep.equal({ service: 's', route: 'r' });
  });
});
