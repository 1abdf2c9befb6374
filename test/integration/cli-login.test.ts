/**
 * The CLI's sign-in, end to end: `portcullis` as a child process against a real OpenID provider doing the
 * device flow, with the user's side completed over HTTP while the CLI polls.
 */
import { expect } from 'chai';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../harness/ports.js';
import { CliProcess, runCli } from '../harness/cli.js';
import { DeviceFlowIssuer } from '../harness/device-flow-issuer.js';

const VERIFICATION_LINK = /^\s+(http:\/\/\S+\/device\?user_code=\S+)$/m;

describe('portcullis login / logout against a real OpenID provider', function () {
  this.timeout(60_000);
  let idp: DeviceFlowIssuer;
  let dir: string;
  let env: Record<string, string>;

  before(async () => {
    idp = await DeviceFlowIssuer.start();
  });
  after(async () => {
    await idp.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pc-cli-login-'));
    env = { HOME: dir, PORTCULLIS_CONFIG_DIR: path.join(dir, 'config'), PORTCULLIS_OIDC_ISSUER: idp.issuer };
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  async function deviceLogin(as = 'alice'): Promise<{ code: number | null; stdout: string; stderr: string }> {
    const cli = new CliProcess(['login'], env);
    const [, link] = await cli.waitForStderr(VERIFICATION_LINK);
    await idp.approve(link!, as);
    return cli.done;
  }

  it('logs in with the device flow: prints link and code, polls, stores tokens 0600 in a 0700 directory, remembers the issuer', async () => {
    const before = idp.counters.deviceAuthorizations;
    const result = await deviceLogin('alice');
    expect(result.code, result.stderr).to.equal(0);
    expect(result.stdout).to.equal(`Logged in to ${idp.issuer} as alice.\n`);
    expect(result.stderr).to.match(/check that it shows the code [A-Z]{4}-[A-Z]{4}/);
    expect(idp.counters.deviceAuthorizations).to.equal(before + 1);

    const tokenFile = path.join(env['PORTCULLIS_CONFIG_DIR']!, 'tokens.json');
    expect((await stat(tokenFile)).mode & 0o777).to.equal(0o600);
    expect((await stat(env['PORTCULLIS_CONFIG_DIR']!)).mode & 0o777).to.equal(0o700);
    const stored = JSON.parse(await readFile(tokenFile, 'utf8'));
    expect(stored).to.include({ issuer: idp.issuer, client_id: 'portcullis-cli', grant: 'device_code' });
    expect(stored.refresh_token).to.be.a('string');
    // tokens are never printed
    expect(result.stdout + result.stderr).not.to.contain(stored.access_token).and.not.to.contain(stored.refresh_token);

    const config = JSON.parse(await readFile(path.join(env['PORTCULLIS_CONFIG_DIR']!, 'config.json'), 'utf8'));
    expect(config).to.deep.equal({ issuer: idp.issuer, client_id: 'portcullis-cli' });
    // the issuer now comes from the config file
    const shown = await runCli(['config', '--json'], { HOME: dir, PORTCULLIS_CONFIG_DIR: env['PORTCULLIS_CONFIG_DIR']! });
    expect(JSON.parse(shown.stdout).settings.issuer).to.deep.include({ value: idp.issuer, source: 'config file' });
  });

  it('logout revokes the refresh token at the provider and deletes the stored tokens', async () => {
    expect((await deviceLogin('bob')).code).to.equal(0);
    const tokenFile = path.join(env['PORTCULLIS_CONFIG_DIR']!, 'tokens.json');
    const stored = JSON.parse(await readFile(tokenFile, 'utf8'));
    const revocations = idp.counters.revocations;
    const result = await runCli(['logout', '--json'], env);
    expect(result.code, result.stderr).to.equal(0);
    expect(JSON.parse(result.stdout)).to.deep.equal({ logged_out: true, revoked: true });
    expect(idp.counters.revocations).to.equal(revocations + 1);
    await stat(tokenFile).then(
      () => expect.fail('token file still there'),
      (e: NodeJS.ErrnoException) => expect(e.code).to.equal('ENOENT'),
    );
    // the provider really forgot the session: the refresh token no longer works
    const refresh = await fetch(`${idp.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: stored.refresh_token, client_id: 'portcullis-cli' }).toString(),
    });
    expect(refresh.status).to.equal(400);
    // a second logout is harmless
    const again = await runCli(['logout'], env);
    expect(again.code).to.equal(0);
    expect(again.stdout).to.match(/Not logged in/);
  });

  it('stops with exit 2 and a clear message when the user denies the request; nothing is stored', async () => {
    const cli = new CliProcess(['login'], env);
    const [, link] = await cli.waitForStderr(VERIFICATION_LINK);
    await idp.deny(link!);
    const result = await cli.done;
    expect(result.code).to.equal(2);
    expect(result.stderr).to.match(/portcullis: The sign-in was denied at the identity provider/);
    expect(result.stderr).not.to.match(/\n\s+at /); // no stack trace
    await stat(path.join(env['PORTCULLIS_CONFIG_DIR']!, 'tokens.json')).then(
      () => expect.fail('tokens stored'),
      () => undefined,
    );
  });

  it('logs in with --password only when asked, the password from PORTCULLIS_PASSWORD or stdin, never a flag', async () => {
    const ok = await runCli(['login', '--password', '--username', 'bob', '--json'], { ...env, PORTCULLIS_PASSWORD: 'bob-password' });
    expect(ok.code, ok.stderr).to.equal(0);
    expect(JSON.parse(ok.stdout)).to.include({ logged_in: true, grant: 'password', subject: 'bob', username: 'bob' });

    const piped = await runCli(['login', '--password', '--username', 'alice'], env, 'alice-password\n');
    expect(piped.code, piped.stderr).to.equal(0);
    expect(piped.stdout).to.contain('as alice');

    const wrong = await runCli(['login', '--password', '--username', 'bob'], { ...env, PORTCULLIS_PASSWORD: 'nope' });
    expect(wrong.code).to.equal(2);
    expect(wrong.stderr).to.match(/rejected the username or password for bob/);
    expect(wrong.stderr + wrong.stdout).not.to.contain('nope');

    const asFlag = await runCli(['login', '--password', 'bob-password', '--username', 'bob'], env);
    expect(asFlag.code).to.equal(1);
  });

  it('exit 1 without an issuer, exit 5 naming the identity provider when it is unreachable', async () => {
    const none = await runCli(['login'], { HOME: dir, PORTCULLIS_CONFIG_DIR: env['PORTCULLIS_CONFIG_DIR']! });
    expect(none.code).to.equal(1);
    expect(none.stderr).to.match(/No identity provider configured/);
    const asJson = await runCli(['login', '--json'], { HOME: dir, PORTCULLIS_CONFIG_DIR: env['PORTCULLIS_CONFIG_DIR']! });
    expect(asJson.code).to.equal(1);
    expect(asJson.stdout).to.equal('');
    expect(JSON.parse(asJson.stderr).error).to.deep.include({ exit_code: 1 });

    const port = await freePort();
    const down = await runCli(['login', '--issuer', `http://127.0.0.1:${port}/realms/x`], env);
    expect(down.code).to.equal(5);
    expect(down.stderr).to.equal(`portcullis: Cannot reach the identity provider at http://127.0.0.1:${port}: connection refused.\n`);
  });
});
