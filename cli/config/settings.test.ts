import { expect } from 'chai';
import { CliError, ExitCode } from '../exit.js';
import { configPaths } from './paths.js';
import { DEFAULT_CLIENT_ID, DEFAULT_CONTROL_PLANE_URL, resolveSettings } from './settings.js';

const paths = configPaths({ PORTCULLIS_CONFIG_DIR: '/tmp/pc-settings-test' });

describe('CLI settings', () => {
  it('take the flag over the environment over the config file over the default, and say which', () => {
    const file = { url: 'http://from-file:1', issuer: 'http://idp-file/realms/x', client_id: 'file-client' };
    const env = { PORTCULLIS_URL: 'http://from-env:2', PORTCULLIS_OIDC_ISSUER: 'http://idp-env/realms/x' };
    const s = resolveSettings({ url: 'http://from-flag:3/' }, env, file, paths);
    expect(s.url).to.deep.equal({ value: 'http://from-flag:3', source: 'flag', origin: '--url' });
    expect(s.issuer).to.deep.equal({ value: 'http://idp-env/realms/x', source: 'environment', origin: 'PORTCULLIS_OIDC_ISSUER' });
    expect(s.clientId).to.deep.equal({ value: 'file-client', source: 'config file', origin: paths.configFile });

    const defaults = resolveSettings({}, {}, {}, paths);
    expect(defaults.url).to.deep.equal({ value: DEFAULT_CONTROL_PLANE_URL, source: 'default' });
    expect(defaults.clientId.value).to.equal(DEFAULT_CLIENT_ID);
    expect(defaults.issuer).to.deep.equal({ value: undefined, source: 'unset' });
    expect(defaults.token.source).to.equal('unset');
  });

  it('treat an empty environment variable as unset', () => {
    const s = resolveSettings({}, { PORTCULLIS_URL: '  ', PORTCULLIS_TOKEN: '' }, { url: 'http://file:1' }, paths);
    expect(s.url.source).to.equal('config file');
    expect(s.token.value).to.equal(undefined);
  });

  it('take PORTCULLIS_TOKEN as the non-interactive credential', () => {
    const s = resolveSettings({}, { PORTCULLIS_TOKEN: 'pc_secret' }, {}, paths);
    expect(s.token).to.deep.equal({ value: 'pc_secret', source: 'environment', origin: 'PORTCULLIS_TOKEN' });
  });

  it('report every invalid URL at once with where it came from (exit 1)', () => {
    try {
      resolveSettings({ url: 'ftp://x' }, { PORTCULLIS_OIDC_ISSUER: 'not a url' }, {}, paths);
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(CliError);
      expect((error as CliError).exitCode).to.equal(ExitCode.Usage);
      expect((error as CliError).message).to.contain('--url').and.contain('PORTCULLIS_OIDC_ISSUER');
    }
  });

  it('find the config directory: PORTCULLIS_CONFIG_DIR, then XDG_CONFIG_HOME, then ~/.config', () => {
    expect(configPaths({ PORTCULLIS_CONFIG_DIR: '/a/b', XDG_CONFIG_HOME: '/x' }).dir).to.equal('/a/b');
    expect(configPaths({ XDG_CONFIG_HOME: '/x' }).tokenFile).to.equal('/x/portcullis/tokens.json');
    expect(configPaths({ HOME: '/home/u' }).configFile).to.equal('/home/u/.config/portcullis/config.json');
  });
});
