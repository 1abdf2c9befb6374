import { expect } from 'chai';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DeviceFlowIssuer } from '../../test/harness/device-flow-issuer.js';
import { configPaths } from '../config/paths.js';
import { resolveSettings } from '../config/settings.js';
import { CliError, ExitCode } from '../exit.js';
import { processIo, type Io } from '../io.js';
import { OidcClient } from './oidc-client.js';
import { REFRESH_MARGIN_SECONDS, Session, storedTokensFrom } from './session.js';

describe('CLI session: stored tokens, automatic refresh, refresh failure', function () {
  this.timeout(30_000);
  let idp: DeviceFlowIssuer;
  let dir: string;
  let io: Io;

  before(async () => {
    idp = await DeviceFlowIssuer.start();
  });
  after(async () => {
    await idp.close();
  });
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pc-cli-session-'));
    io = { ...processIo(), env: { PORTCULLIS_CONFIG_DIR: dir } };
  });
  afterEach(async () => {
    idp.accessTokenTtl = 300;
    await rm(dir, { recursive: true, force: true });
  });

  /** A session whose clock runs `aheadSeconds` ahead, to reach a token's expiry without waiting for it. */
  function session(env: Record<string, string> = {}, aheadSeconds = 0): Session {
    const e = { PORTCULLIS_CONFIG_DIR: dir, ...env };
    return new Session(resolveSettings({}, e, {}, configPaths(e)), { ...io, env: e, now: () => Date.now() + aheadSeconds * 1000 });
  }

  /** Seconds to skip so that an access token of `ttl` seconds is inside the refresh margin. */
  const nearExpiryOf = (ttl: number) => ttl - REFRESH_MARGIN_SECONDS / 2;

  async function logIn(as = 'alice', aheadSeconds = 0): Promise<Session> {
    const client = new OidcClient(idp.issuer, 'portcullis-cli');
    const outcome = await client.token({ grant_type: 'password', username: as, password: `${as}-password`, scope: 'openid profile' });
    if (!outcome.ok) throw new Error(outcome.error);
    const s = session({}, aheadSeconds);
    await s.store.save(storedTokensFrom(outcome.tokens, { issuer: idp.issuer, clientId: 'portcullis-cli', grant: 'password', nowMs: Date.now() }));
    return s;
  }

  it('uses a fresh stored token as-is, without asking the provider', async () => {
    const s = await logIn();
    const before = idp.counters.tokenRequests['refresh_token'] ?? 0;
    const loaded = await s.store.load();
    expect(await s.bearer()).to.equal(loaded.kind === 'tokens' ? loaded.tokens.access_token : 'x');
    expect(idp.counters.tokenRequests['refresh_token'] ?? 0).to.equal(before);
  });

  it('refreshes an access token that is about to expire, once, and stores the new tokens (0600)', async () => {
    const s = await logIn('alice', nearExpiryOf(idp.accessTokenTtl));
    const first = await s.store.load();
    const before = idp.counters.tokenRequests['refresh_token'] ?? 0;
    const token = await s.bearer();
    expect(idp.counters.tokenRequests['refresh_token']).to.equal(before + 1);
    // the refreshed token is good for its whole lifetime: no second refresh in the same run
    expect(await s.bearer()).to.equal(token);
    expect(idp.counters.tokenRequests['refresh_token']).to.equal(before + 1);
    const second = await s.store.load();
    if (first.kind !== 'tokens' || second.kind !== 'tokens') throw new Error('no tokens');
    expect(token).to.equal(second.tokens.access_token).and.not.equal(first.tokens.access_token);
    // oidc-provider rotates refresh tokens: the new one must have been kept
    expect(second.tokens.refresh_token).to.be.a('string').and.not.equal(first.tokens.refresh_token);
    expect(second.tokens.issuer).to.equal(idp.issuer);
    expect((await stat(s.store.file)).mode & 0o777).to.equal(0o600);
  });

  it('does not refresh short-lived tokens on every call: the margin is at most half the lifetime', async () => {
    idp.accessTokenTtl = 40;
    const s = await logIn('alice', 15); // 25 s left of 40: more than half
    const before = idp.counters.tokenRequests['refresh_token'] ?? 0;
    await s.bearer();
    expect(idp.counters.tokenRequests['refresh_token'] ?? 0).to.equal(before);
    const later = await logIn('alice', 25); // 15 s left of 40: refresh
    await later.bearer();
    expect(idp.counters.tokenRequests['refresh_token']).to.equal(before + 1);
  });

  it('asks for a new login (exit 2) and forgets the tokens when the provider refuses the refresh', async () => {
    const s = await logIn('alice', nearExpiryOf(idp.accessTokenTtl));
    const loaded = await s.store.load();
    if (loaded.kind !== 'tokens') throw new Error('no tokens');
    await new OidcClient(idp.issuer, 'portcullis-cli').revoke(loaded.tokens.refresh_token!, 'refresh_token');
    try {
      await s.bearer();
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(CliError);
      expect((error as CliError).exitCode).to.equal(ExitCode.Auth);
      expect((error as CliError).message).to.match(/session at .* has ended \(invalid_grant\); run `portcullis login` again/);
      expect((error as CliError).message).not.to.contain(loaded.tokens.refresh_token!);
    }
    expect((await s.store.load()).kind).to.equal('none');
  });

  it('renews once on demand (after a 401) with the refresh token', async () => {
    const s = await logIn();
    const before = idp.counters.tokenRequests['refresh_token'] ?? 0;
    const renewed = await s.renew();
    expect(renewed).to.be.a('string');
    expect(idp.counters.tokenRequests['refresh_token']).to.equal(before + 1);
  });

  it('says "not logged in" (exit 2) with no stored login, and prefers PORTCULLIS_TOKEN over one', async () => {
    try {
      await session().bearer();
      expect.fail('should throw');
    } catch (error) {
      expect((error as CliError).exitCode).to.equal(ExitCode.Auth);
      expect((error as CliError).message).to.match(/Not logged in/);
    }
    await logIn();
    const fromEnv = session({ PORTCULLIS_TOKEN: 'pc_from_environment' });
    expect(await fromEnv.bearer()).to.equal('pc_from_environment');
    expect(await fromEnv.renew()).to.equal(undefined);
  });
});
