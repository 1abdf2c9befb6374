import { expect } from 'chai';
import { decodeJwt } from 'jose';
import { DEVICE_CODE_GRANT, DeviceFlowIssuer } from '../../test/harness/device-flow-issuer.js';
import { CliError, ExitCode } from '../exit.js';
import { pollForTokens, type PollHooks } from './device-flow.js';
import { OidcClient } from './oidc-client.js';

/** Real sleeps, recorded, so a test can see the intervals the poller chose. */
function recordingHooks(options: { instant?: boolean } = {}): PollHooks & { sleeps: number[]; slowDowns: number[] } {
  const sleeps: number[] = [];
  const slowDowns: number[] = [];
  return {
    sleeps,
    slowDowns,
    sleep: async (ms) => {
      sleeps.push(ms);
      if (!options.instant) await new Promise((r) => setTimeout(r, ms));
    },
    now: Date.now,
    onSlowDown: (s) => slowDowns.push(s),
  };
}

async function rejection(promise: Promise<unknown>): Promise<CliError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof CliError) return error;
    throw error;
  }
  throw new Error('expected a CliError');
}

describe('device login against a real OpenID provider (oidc-provider)', function () {
  this.timeout(60_000);
  let idp: DeviceFlowIssuer;
  let client: OidcClient;

  beforeEach(async () => {
    idp = await DeviceFlowIssuer.start();
    client = new OidcClient(idp.issuer, 'portcullis-cli');
  });
  afterEach(async () => {
    await idp.close();
  });

  it('keeps polling through authorization_pending until the user signs in, then returns a JWT access token for the API', async () => {
    const authorization = await client.deviceAuthorization('openid profile email');
    expect(authorization.interval).to.equal(1);
    expect(authorization.verification_uri_complete).to.contain(authorization.user_code);
    const hooks = recordingHooks();
    const polling = pollForTokens(client, authorization, hooks);
    // the user takes a while: at least two polls see authorization_pending first
    await new Promise((r) => setTimeout(r, 2_300));
    await idp.approve(authorization.verification_uri_complete!, 'alice');
    const tokens = await polling;

    expect(idp.counters.tokenRequests[DEVICE_CODE_GRANT]).to.be.at.least(3);
    expect(hooks.sleeps.every((ms) => ms === 1000), String(hooks.sleeps)).to.equal(true);
    expect(tokens.refresh_token).to.be.a('string');
    const claims = decodeJwt(tokens.access_token);
    expect(claims).to.include({ sub: 'alice', aud: idp.audience, iss: idp.issuer, preferred_username: 'alice' });
  });

  it('adds 5 seconds to the interval on slow_down (RFC 8628 §3.5) and still completes', async () => {
    const authorization = await client.deviceAuthorization('openid');
    idp.forceSlowDown = 1;
    const hooks = recordingHooks();
    const polling = pollForTokens(client, authorization, hooks);
    await new Promise((r) => setTimeout(r, 1_500));
    await idp.approve(authorization.verification_uri_complete!, 'bob');
    const tokens = await polling;
    expect(idp.counters.slowDownsSent).to.equal(1);
    expect(hooks.slowDowns).to.deep.equal([6]);
    expect(hooks.sleeps).to.deep.equal([1000, 6000]);
    expect(decodeJwt(tokens.access_token).sub).to.equal('bob');
  });

  it('stops with a clear message and exit code 2 when the user denies the request (access_denied)', async () => {
    const authorization = await client.deviceAuthorization('openid');
    const polling = pollForTokens(client, authorization, recordingHooks());
    await idp.deny(authorization.verification_uri_complete!);
    const error = await rejection(polling);
    expect(error.exitCode).to.equal(ExitCode.Auth);
    expect(error.message).to.match(/denied/);
  });

  it('stops on expired_token from the provider', async () => {
    idp.deviceCodeTtl = 2;
    // claim a longer lifetime locally so that it is the provider's expired_token that ends the wait
    const authorization = { ...(await client.deviceAuthorization('openid')), expires_in: 60 };
    const error = await rejection(pollForTokens(client, authorization, recordingHooks()));
    expect(error.exitCode).to.equal(ExitCode.Auth);
    expect(error.message).to.match(/expired before the sign-in was completed/);
    expect(idp.counters.tokenRequests[DEVICE_CODE_GRANT]).to.be.at.least(2);
  });

  it('stops at its own deadline when the code lifetime has passed, without polling forever', async () => {
    const authorization = { ...(await client.deviceAuthorization('openid')), expires_in: 2 };
    const hooks = recordingHooks();
    const error = await rejection(pollForTokens(client, authorization, hooks));
    expect(error.message).to.match(/expired/);
    expect(hooks.sleeps.length).to.be.at.most(3);
  });

  it('backs off when the provider becomes unreachable and gives up with exit code 5 naming it', async () => {
    const authorization = await client.deviceAuthorization('openid');
    await idp.close();
    const hooks = recordingHooks({ instant: true });
    const error = await rejection(pollForTokens(client, authorization, hooks));
    expect(error.exitCode).to.equal(ExitCode.Unreachable);
    expect(error.message).to.match(/Cannot reach the identity provider at http:\/\/127\.0\.0\.1:\d+: connection refused/);
    expect(hooks.sleeps).to.deep.equal([1000, 2000, 4000]);
    idp = await DeviceFlowIssuer.start(); // for afterEach
  });
});
