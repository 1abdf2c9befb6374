/**
 * Forwarded headers are believed only from trusted proxies. The service trusts 127.0.0.1/32 alone; a client
 * connecting from 127.0.0.2 plays an untrusted peer that can reach the authz-service directly.
 */
import { expect } from 'chai';
import type { AuthzServiceHandles } from '../../authz-service/src/main.js';
import { startTestAuthz, writeStateFile } from '../harness/authz.js';
import { send } from '../harness/http.js';

describe('forwarded-header trust (real service, untrusted peer on 127.0.0.2)', function () {
  this.timeout(20_000);
  let service: AuthzServiceHandles;
  let port: number;

  before(async () => {
    // one public service for the whole host space, so every request is allowed and shows who we think called
    const path = writeStateFile({
      services: [
        { name: 'admin', upstream_urls: ['http://127.0.0.1:9'], match: { host: 'admin.internal' }, routes: [{ name: 'all', path_prefix: '/', public: true }] },
        { name: 'open', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/' }, routes: [{ name: 'all', path_prefix: '/', public: true }] },
      ],
    });
    service = await startTestAuthz({ PORTCULLIS_STATE_FILE: path, PORTCULLIS_TRUSTED_PROXIES: '127.0.0.1/32', PORTCULLIS_KEY_PEPPER: '' });
    port = service.httpAddress.port;
  });
  after(() => service.close());

  const spoofed = {
    host: 'direct.example',
    'x-forwarded-host': 'admin.internal',
    'x-forwarded-uri': '/secrets',
    'x-forwarded-method': 'DELETE',
    'x-forwarded-for': '6.6.6.6',
    'x-original-host': 'admin.internal',
    'x-original-uri': '/secrets',
    'x-real-ip': '6.6.6.6',
  };

  it('ignores X-Forwarded-* and X-Original-* from an untrusted peer', async () => {
    const metricsBefore = (await send(port, { path: '/metrics' })).body;
    const res = await send(port, { path: '/forward-auth', headers: spoofed, localAddress: '127.0.0.2' });
    expect(res.status).to.equal(200);
    // judged as itself: its own Host (not admin.internal), its own socket address (not 6.6.6.6)
    expect(res.headers['x-portcullis-consumer']).to.equal('ip:127.0.0.2');
    const metrics = (await send(port, { path: '/metrics' })).body;
    expect(metrics).to.contain('outcome="allow",reason="ok",adapter="forward_auth",service="open"} 1');
    expect(metricsBefore).not.to.contain('service="admin"');
    expect(metrics).not.to.contain('service="admin"');
  });

  it('believes the same headers from a trusted proxy', async () => {
    const res = await send(port, { path: '/forward-auth', headers: spoofed, localAddress: '127.0.0.1' });
    expect(res.status).to.equal(200);
    expect(res.headers['x-portcullis-consumer']).to.equal('ip:6.6.6.6');
    expect((await send(port, { path: '/metrics' })).body).to.contain('service="admin"} 1');
  });

  it('takes the client from the rightmost untrusted X-Forwarded-For hop', async () => {
    const res = await send(port, {
      path: '/forward-auth',
      headers: { 'x-forwarded-uri': '/', 'x-forwarded-for': '1.1.1.1, 203.0.113.5, 127.0.0.1' },
      localAddress: '127.0.0.1',
    });
    expect(res.headers['x-portcullis-consumer']).to.equal('ip:203.0.113.5');
  });
});
