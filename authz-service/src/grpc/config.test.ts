import { expect } from 'chai';
import { extAuthzConfigFromEnv } from './config.js';

describe('extAuthzConfigFromEnv', () => {
  it('defaults to port 9191 on every interface', () => {
    expect(extAuthzConfigFromEnv({})).to.deep.equal({ ok: true, config: { enabled: true, port: 9191, host: '0.0.0.0' } });
  });

  it('reads port and host, and "off" disables the server', () => {
    expect(extAuthzConfigFromEnv({ PORTCULLIS_EXT_AUTHZ_PORT: '19191', PORTCULLIS_EXT_AUTHZ_HOST: '::' })).to.deep.equal({
      ok: true,
      config: { enabled: true, port: 19191, host: '::' },
    });
    expect(extAuthzConfigFromEnv({ PORTCULLIS_EXT_AUTHZ_PORT: 'OFF' })).to.deep.equal({ ok: true, config: { enabled: false } });
  });

  it('reports every problem at once', () => {
    const result = extAuthzConfigFromEnv({ PORTCULLIS_EXT_AUTHZ_PORT: '70000', PORTCULLIS_EXT_AUTHZ_HOST: 'bad host' });
    expect(result.ok).to.equal(false);
    if (!result.ok) expect(result.errors.map((e) => e.split(':')[0])).to.deep.equal(['PORTCULLIS_EXT_AUTHZ_PORT', 'PORTCULLIS_EXT_AUTHZ_HOST']);
  });
});
