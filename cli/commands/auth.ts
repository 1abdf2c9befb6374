/** login, logout, whoami. */
import type { JWTPayload } from 'jose';
import type { MeView } from '../../control-plane/src/services/self-service.js';
import { jwtClaims } from '../auth/claims.js';
import { pollForTokens } from '../auth/device-flow.js';
import { type DeviceAuthorization, OidcClient, type TokenResponse } from '../auth/oidc-client.js';
import { readPassword } from '../auth/password-prompt.js';
import { storedTokensFrom } from '../auth/session.js';
import { type Command, type CommandContext, flag, stringOption } from '../command.js';
import { updateConfigFile } from '../config/config-file.js';
import { authError, CliError, usageError } from '../exit.js';

export const DEFAULT_SCOPE = 'openid profile email';

const login: Command = {
  name: 'login',
  summary: 'Sign in with the identity provider (device login; --password only when asked)',
  usage: '[--issuer URL] [--client-id ID] [--scope SCOPES] [--password --username NAME]',
  options: {
    password: { type: 'boolean' },
    username: { type: 'string' },
    scope: { type: 'string' },
  },
  async run(ctx) {
    const issuer = ctx.settings.issuer.value;
    if (issuer === undefined) {
      throw usageError('No identity provider configured: pass --issuer URL (e.g. https://keycloak.example.com/realms/portcullis) or set PORTCULLIS_OIDC_ISSUER.');
    }
    const clientId = ctx.settings.clientId.value!;
    const client = new OidcClient(issuer, clientId);
    const scope = stringOption(ctx, 'scope') ?? DEFAULT_SCOPE;
    const grant = flag(ctx, 'password') ? 'password' : 'device_code';
    const tokens = grant === 'password' ? await passwordLogin(ctx, client, scope) : await deviceLogin(ctx, client, scope);

    const stored = storedTokensFrom(tokens, { issuer, clientId, grant, nowMs: ctx.io.now() });
    await ctx.session.store.save(stored);
    const url = ctx.settings.url;
    await updateConfigFile(ctx.settings.paths.configFile, { issuer, client_id: clientId, ...(url.source === 'flag' ? { url: url.value } : {}) });

    const claims = jwtClaims(stored.access_token);
    const who = String(claims?.['preferred_username'] ?? claims?.sub ?? 'you');
    if (ctx.session.usesEnvironmentToken) ctx.out.note('Note: PORTCULLIS_TOKEN is set and is used instead of this login until you unset it.');
    ctx.out.result(
      {
        logged_in: true,
        issuer,
        client_id: clientId,
        grant,
        subject: claims?.sub,
        username: claims?.['preferred_username'],
        expires_at: stored.expires_at === undefined ? undefined : new Date(stored.expires_at * 1000).toISOString(),
      },
      () => ctx.out.line(`Logged in to ${issuer} as ${who}.`),
    );
  },
};

async function deviceLogin(ctx: CommandContext, client: OidcClient, scope: string): Promise<TokenResponse> {
  if (stringOption(ctx, 'username') !== undefined) throw usageError('--username goes with --password; the device login asks in the browser.');
  const authorization = await client.deviceAuthorization(scope);
  showDevicePrompt(ctx, authorization);
  return pollForTokens(client, authorization, {
    sleep: (ms) => ctx.io.sleep(ms),
    now: () => ctx.io.now(),
    onSlowDown: (seconds) => ctx.out.note(`The identity provider asked us to check less often; now every ${seconds} s.`),
  });
}

function showDevicePrompt(ctx: CommandContext, authorization: DeviceAuthorization): void {
  const minutes = Math.max(1, Math.round(authorization.expires_in / 60));
  const lines = authorization.verification_uri_complete
    ? [
        'To sign in, open this link in a browser:',
        '',
        `    ${authorization.verification_uri_complete}`,
        '',
        `and check that it shows the code ${authorization.user_code}.`,
        `(Or open ${authorization.verification_uri} and enter the code.)`,
      ]
    : ['To sign in, open this page in a browser:', '', `    ${authorization.verification_uri}`, '', `and enter the code ${authorization.user_code}.`];
  ctx.out.note([...lines, `The code is valid for ${minutes} minute${minutes === 1 ? '' : 's'}. Waiting for the sign-in to finish...`].join('\n'));
}

async function passwordLogin(ctx: CommandContext, client: OidcClient, scope: string): Promise<TokenResponse> {
  const username = stringOption(ctx, 'username');
  if (username === undefined) throw usageError('--password needs --username NAME (the password is prompted for, or read from PORTCULLIS_PASSWORD).');
  const password = await readPassword(ctx.io, `Password for ${username} at ${client.issuer}: `);
  const outcome = await client.token({ grant_type: 'password', username, password, scope });
  if (outcome.ok) return outcome.tokens;
  if (outcome.error === 'invalid_grant') throw authError(`The identity provider rejected the username or password for ${username}.`);
  if (outcome.error === 'unauthorized_client' || outcome.error === 'unsupported_grant_type') {
    throw authError(`Password login is not enabled for client "${client.clientId}" at ${client.issuer} (Keycloak: "Direct access grants"); use the device login.`);
  }
  throw authError(`The identity provider refused the login: ${outcome.error}${outcome.description ? ` (${outcome.description})` : ''}.`);
}

const logout: Command = {
  name: 'logout',
  summary: 'Forget the stored login (and revoke it at the identity provider when it offers revocation)',
  usage: '',
  async run(ctx) {
    const loaded = await ctx.session.store.load();
    let revoked: boolean | 'unsupported' | 'failed' = false;
    if (loaded.kind === 'tokens') {
      const { tokens } = loaded;
      try {
        const client = new OidcClient(tokens.issuer, tokens.client_id);
        // revoking the refresh token ends the session at Keycloak; the access token dies with it or soon
        const result = await client.revoke(tokens.refresh_token ?? tokens.access_token, tokens.refresh_token ? 'refresh_token' : 'access_token');
        revoked = result === undefined ? 'unsupported' : result ? true : 'failed';
        if (revoked === 'failed') ctx.out.note(`The identity provider at ${tokens.issuer} did not accept the revocation; the tokens expire on their own.`);
      } catch (error) {
        if (!(error instanceof CliError)) throw error;
        revoked = 'failed';
        ctx.out.note(`Could not revoke the session: ${error.message} The tokens are deleted here and expire on their own.`);
      }
    }
    const removed = await ctx.session.store.clear();
    ctx.out.result({ logged_out: removed, revoked }, () => ctx.out.line(removed ? 'Logged out.' : 'Not logged in; nothing to do.'));
  },
};

const PROFILE_CLAIMS = ['sub', 'preferred_username', 'name', 'email', 'iss', 'aud', 'azp', 'scope'] as const;

const whoami: Command = {
  name: 'whoami',
  summary: 'Show the current credential (token claims) and who the control plane says you are',
  usage: '',
  async run(ctx) {
    let claims: JWTPayload | undefined;
    let credential: Record<string, unknown>;
    if (ctx.session.usesEnvironmentToken) {
      claims = jwtClaims(ctx.settings.token.value!);
      credential = { source: 'PORTCULLIS_TOKEN', kind: claims ? 'access token' : 'API key' };
    } else {
      const tokens = await ctx.session.login();
      claims = jwtClaims(tokens.access_token);
      credential = {
        source: 'login',
        issuer: tokens.issuer,
        client_id: tokens.client_id,
        grant: tokens.grant,
        expires_at: tokens.expires_at === undefined ? undefined : new Date(tokens.expires_at * 1000).toISOString(),
      };
    }
    // 403: the credential is valid but belongs to no consumer (the bootstrap admin key, for instance)
    const reply = await ctx.api().request<MeView & { detail?: string }>('GET', '/v1/me', { accept: [403] });
    const me = reply.status === 403 ? null : reply.body;
    const refusal = reply.status === 403 ? (reply.body?.detail ?? 'this credential belongs to no consumer') : undefined;
    ctx.out.result({ credential, claims, me }, () => {
      const pairs: [string, string | undefined][] = [
        ['credential', `${String(credential['source'])}${credential['kind'] ? ` (${String(credential['kind'])})` : ''}`],
        ...(credential['expires_at'] ? [['token expires', String(credential['expires_at'])] as [string, string]] : []),
      ];
      for (const name of PROFILE_CLAIMS) if (claims?.[name] !== undefined) pairs.push([name, display(claims[name])]);
      const roles = (claims?.['realm_access'] as { roles?: unknown } | undefined)?.roles;
      if (Array.isArray(roles)) pairs.push(['roles', roles.join(' ')]);
      if (me) pairs.push(['consumer', `${me.consumer.name} (${me.consumer.id})`], ['admin', me.actor.admin ? 'yes' : 'no']);
      else pairs.push(['consumer', `none: the control plane accepts the credential but refuses self-service (${refusal})`]);
      ctx.out.fields(pairs);
    });
  },
};

function display(value: unknown): string {
  return Array.isArray(value) ? value.join(' ') : String(value);
}

export const authCommands: readonly Command[] = [login, logout, whoami];
