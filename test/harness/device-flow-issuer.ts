/**
 * A real OpenID provider (`oidc-provider`, the certified implementation) over real HTTP, set up the way the
 * CLI meets Keycloak: a public client `portcullis-cli` with the device authorization grant, refresh tokens
 * and JWT access tokens for the API audience (resource indicators), revocation, plus a password grant for
 * `login --password`. A scripted browser completes the user's side of the device flow over HTTP.
 *
 *   const idp = await DeviceFlowIssuer.start({ accounts: { alice: { password: 'pw' } } });
 *   // the CLI prints verification_uri_complete; the "user" opens it and signs in:
 *   await idp.approve(verificationUriComplete, 'alice');
 *   idp.forceSlowDown = 1;               // the next pending poll answers slow_down
 *   await idp.close();
 *
 * Two things oidc-provider leaves to the deployment are added here as Keycloak does them: an `interval`
 * in the device authorization response, and `slow_down` for clients that poll faster than it.
 */
import { randomUUID } from 'node:crypto';
import { type IncomingMessage, type Server, type ServerResponse, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair } from 'jose';
import type Provider from 'oidc-provider';
import type { KoaContext } from 'oidc-provider';

export const CLI_CLIENT_ID = 'portcullis-cli';
export const DEVICE_CODE_GRANT = 'urn:ietf:params:oauth:grant-type:device_code';
/** The API's resource indicator (RFC 8707 wants an absolute URI); tokens for it carry `aud` = the audience. */
export const API_RESOURCE = 'urn:portcullis:api';

export interface TestAccount {
  readonly password: string;
  readonly email?: string;
  readonly name?: string;
}

export interface DeviceFlowIssuerOptions {
  readonly accounts?: Readonly<Record<string, TestAccount>>;
  /** `aud` of access tokens for the API. Default "portcullis-api". */
  readonly audience?: string;
  /** Poll interval announced in device authorization responses, seconds. Default 1. */
  readonly interval?: number;
}

const DEFAULT_ACCOUNTS: Readonly<Record<string, TestAccount>> = {
  alice: { password: 'alice-password', email: 'alice@example.com', name: 'Alice Example' },
  bob: { password: 'bob-password', email: 'bob@example.com', name: 'Bob Example' },
};

/** Counts of what the issuer was asked, so tests can prove a refresh or revocation really happened. */
export interface IssuerCounters {
  deviceAuthorizations: number;
  tokenRequests: Record<string, number>;
  revocations: number;
  slowDownsSent: number;
}

export class DeviceFlowIssuer {
  /** Access-token lifetime for tokens issued from now on, seconds. */
  accessTokenTtl = 300;
  /** Device-code lifetime for codes issued from now on, seconds. */
  deviceCodeTtl = 600;
  /** Interval announced in new device authorization responses, seconds. */
  interval: number;
  /** The next N `authorization_pending` answers become `slow_down`. */
  forceSlowDown = 0;
  readonly counters: IssuerCounters = { deviceAuthorizations: 0, tokenRequests: {}, revocations: 0, slowDownsSent: 0 };
  readonly #lastPoll = new Map<string, number>();
  readonly #pollInterval = new Map<string, number>();

  private constructor(
    private readonly server: Server,
    readonly issuer: string,
    readonly audience: string,
    private readonly accounts: Readonly<Record<string, TestAccount>>,
    interval: number,
  ) {
    this.interval = interval;
  }

  static async start(options: DeviceFlowIssuerOptions = {}): Promise<DeviceFlowIssuer> {
    const server = createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const issuerUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const idp = new DeviceFlowIssuer(server, issuerUrl, options.audience ?? 'portcullis-api', options.accounts ?? DEFAULT_ACCOUNTS, options.interval ?? 1);
    const provider = await idp.#provider(await quietly(() => import('oidc-provider')));
    const callback = provider.callback();
    server.on('request', (req, res) => {
      if ((req.url ?? '').startsWith('/interaction/')) void idp.#interaction(provider, req, res);
      else callback(req, res);
    });
    return idp;
  }

  get discoveryUrl(): string {
    return `${this.issuer}/.well-known/openid-configuration`;
  }

  /** The user opens the verification link, confirms the code, signs in as `account` and consents. */
  async approve(verificationUriComplete: string, account = 'alice', password = this.accounts[account]?.password ?? ''): Promise<void> {
    await new ScriptedBrowser().run(verificationUriComplete, (fields, action) => {
      if (action.endsWith('/login')) return { ...fields, login: account, password };
      return fields;
    });
  }

  /** The user opens the verification link and presses "cancel" on the confirmation page. */
  async deny(verificationUriComplete: string): Promise<void> {
    let aborted = false;
    await new ScriptedBrowser().run(verificationUriComplete, (fields) => {
      if (aborted) return null;
      if (fields['confirm'] === undefined) return fields;
      aborted = true;
      const { confirm: _confirm, ...rest } = fields;
      return { ...rest, abort: 'yes' };
    });
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  async #provider(oidc: typeof import('oidc-provider')): Promise<Provider> {
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const signingKey = { ...(await exportJWK(privateKey)), kid: randomUUID(), alg: 'RS256', use: 'sig' };
    const resourceServer = {
      scope: 'portcullis',
      audience: this.audience,
      accessTokenFormat: 'jwt',
      jwt: { sign: { alg: 'RS256' } },
    };
    const provider = await quietly(async () => new oidc.default(this.issuer, {
      clients: [
        {
          client_id: CLI_CLIENT_ID,
          token_endpoint_auth_method: 'none',
          grant_types: [DEVICE_CODE_GRANT, 'refresh_token', 'password'],
          response_types: [],
          redirect_uris: [],
        },
      ],
      jwks: { keys: [signingKey] },
      cookies: { keys: [randomUUID()] },
      claims: { openid: ['sub'], profile: ['preferred_username', 'name'], email: ['email'] },
      findAccount: (_ctx: unknown, id: string) => {
        const account = this.accounts[id];
        if (!account) return undefined;
        return { accountId: id, claims: () => ({ sub: id, preferred_username: id, name: account.name, email: account.email }) };
      },
      // Keycloak issues refresh tokens to every login, not only to offline_access requests.
      issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(t: string): boolean }) => client.grantTypeAllowed('refresh_token'),
      // The API learns who the user is from the access token alone, as it does from a Keycloak one.
      extraTokenClaims: async (_ctx: unknown, token: { accountId?: string }) =>
        token.accountId === undefined ? undefined : { preferred_username: token.accountId, azp: CLI_CLIENT_ID },
      ttl: {
        AccessToken: () => this.accessTokenTtl,
        DeviceCode: () => this.deviceCodeTtl,
        RefreshToken: 3600,
        Grant: 3600,
        Session: 3600,
        Interaction: 600,
        IdToken: 300,
      },
      interactions: { url: (_ctx: unknown, interaction: { uid: string }) => `/interaction/${interaction.uid}` },
      features: {
        devInteractions: { enabled: false },
        deviceFlow: {
          enabled: true,
          userCodeInputSource: async (ctx: KoaContext, form: string) => page(ctx, 'Enter your code', form),
          userCodeConfirmSource: async (ctx: KoaContext, form: string) => page(ctx, 'Confirm the code', form),
          successSource: async (ctx: KoaContext) => page(ctx, 'Signed in', '<p id="success">You may close this window.</p>'),
        },
        // a public client revoking its own tokens, as the CLI's logout does
        revocation: { enabled: true, allowedPolicy: async () => true },
        resourceIndicators: {
          enabled: true,
          defaultResource: async () => API_RESOURCE,
          useGrantedResource: async () => true,
          getResourceServerInfo: async (_ctx: unknown, indicator: string) => {
            if (indicator !== API_RESOURCE) throw new oidc.errors.InvalidTarget();
            return { ...resourceServer, accessTokenTTL: this.accessTokenTtl };
          },
        },
      },
    }));
    provider.use(async (ctx, next) => this.#observe(ctx, next));
    provider.registerGrantType('password', async (ctx) => this.#passwordGrant(provider, oidc.errors, ctx, resourceServer), ['username', 'password', 'scope']);
    return provider;
  }

  /** Counts requests, announces the poll interval, and turns too-fast polls into slow_down. */
  async #observe(ctx: KoaContext, next: () => Promise<void>): Promise<void> {
    await next();
    if (ctx.method !== 'POST') return;
    const answer = ctx.body;
    if (ctx.path === '/device/auth' && ctx.status === 200 && isRecord(answer)) {
      this.counters.deviceAuthorizations++;
      ctx.body = { ...answer, interval: this.interval };
      this.#pollInterval.set(String(answer['device_code']), this.interval);
    } else if (ctx.path === '/token/revocation') {
      this.counters.revocations++;
    } else if (ctx.path === '/token') {
      const grantType = String(ctx.oidc?.params?.['grant_type'] ?? 'unknown');
      this.counters.tokenRequests[grantType] = (this.counters.tokenRequests[grantType] ?? 0) + 1;
      if (grantType === DEVICE_CODE_GRANT && isRecord(ctx.body) && ctx.body['error'] === 'authorization_pending') this.#slowDownIfTooFast(ctx);
    }
  }

  #slowDownIfTooFast(ctx: KoaContext): void {
    const code = String(ctx.oidc?.params?.['device_code']);
    const now = Date.now();
    const last = this.#lastPoll.get(code);
    const interval = this.#pollInterval.get(code) ?? this.interval;
    this.#lastPoll.set(code, now);
    // a little slack for timer jitter; RFC 8628 §3.5: on slow_down the client adds 5 s, and so do we
    const tooFast = last !== undefined && now - last < interval * 1000 - 250;
    if (this.forceSlowDown > 0 || tooFast) {
      if (this.forceSlowDown > 0) this.forceSlowDown--;
      this.#pollInterval.set(code, interval + 5);
      this.counters.slowDownsSent++;
      ctx.status = 400;
      ctx.body = { error: 'slow_down', error_description: 'you are polling too quickly' };
    }
  }

  /** Resource-owner password credentials, as Keycloak offers it when "Direct access grants" is on. */
  async #passwordGrant(provider: Provider, errors: (typeof import('oidc-provider'))['errors'], ctx: Parameters<Parameters<Provider['registerGrantType']>[1]>[0], resourceServer: Record<string, unknown>): Promise<void> {
    const { username = '', password = '', scope = 'openid' } = ctx.oidc.params;
    const account = this.accounts[username];
    if (!account || account.password !== password) throw new errors.InvalidGrant('invalid username or password');
    const clientId = ctx.oidc.client.clientId;
    const grant = new provider.Grant({ accountId: username, clientId });
    grant.addOIDCScope(scope.split(' ').filter((s) => ['openid', 'profile', 'email'].includes(s)).join(' ') || 'openid');
    grant.addResourceScope(API_RESOURCE, 'portcullis');
    const grantId = await grant.save();
    const common = { accountId: username, client: ctx.oidc.client, grantId, gty: 'password' };
    const at = new provider.AccessToken({ ...common, scope: 'portcullis' });
    at.resourceServer = new provider.ResourceServer(API_RESOURCE, { ...resourceServer, accessTokenTTL: this.accessTokenTtl });
    const rt = new provider.RefreshToken({ ...common, scope, resource: API_RESOURCE, rotations: 0 });
    ctx.body = { access_token: await at.save(), refresh_token: await rt.save(), token_type: 'Bearer', expires_in: at.expiration, scope };
  }

  /** The login and consent pages, as a real deployment's interaction app would serve them. */
  async #interaction(provider: Provider, req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      const details = await provider.interactionDetails(req, res);
      const [, , uid, action] = (req.url ?? '').split('?')[0]!.split('/');
      if (req.method === 'GET' && action === undefined) {
        const form =
          details.prompt.name === 'login'
            ? `<form method="post" action="/interaction/${uid}/login"><input name="login"/><input name="password" type="password"/></form>`
            : `<form method="post" action="/interaction/${uid}/confirm"><input type="hidden" name="consent" value="yes"/></form>`;
        res.writeHead(200, { 'content-type': 'text/html' }).end(`<!DOCTYPE html><html><body>${form}</body></html>`);
        return;
      }
      const body = new URLSearchParams(await readBody(req));
      if (req.method === 'POST' && action === 'login') {
        const login = body.get('login') ?? '';
        if (this.accounts[login]?.password !== body.get('password')) {
          await provider.interactionFinished(req, res, { error: 'access_denied', error_description: 'wrong password' }, { mergeWithLastSubmission: false });
          return;
        }
        await provider.interactionFinished(req, res, { login: { accountId: login } }, { mergeWithLastSubmission: false });
        return;
      }
      if (req.method === 'POST' && action === 'confirm') {
        await provider.interactionFinished(req, res, { consent: { grantId: await this.#grantFor(provider, details) } }, { mergeWithLastSubmission: true });
        return;
      }
      res.writeHead(404).end();
    } catch (error) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(error instanceof Error ? error.message : 'interaction failed');
    }
  }

  async #grantFor(provider: Provider, details: Awaited<ReturnType<Provider['interactionDetails']>>): Promise<string> {
    const grant = details.grantId
      ? await provider.Grant.find(details.grantId)
      : new provider.Grant({ accountId: details.session?.accountId ?? '', clientId: String(details.params['client_id']) });
    if (!grant) throw new Error('grant vanished');
    const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
    for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
    return grant.save();
  }
}

/**
 * oidc-provider warns on import (it wants Node 22; 20 works) and on construction (in-memory adapter, fine for
 * a test); those two lines would drown the test output, so they are dropped while it loads. Nothing else is.
 */
async function quietly<T>(load: () => Promise<T>): Promise<T> {
  const warn = console.warn;
  console.warn = (...args: unknown[]) => {
    if (!(typeof args[0] === 'string' && args[0].startsWith('oidc-provider WARNING'))) warn(...args);
  };
  try {
    return await load();
  } finally {
    console.warn = warn;
  }
}

function page(ctx: KoaContext, title: string, content: string): void {
  ctx.body = `<!DOCTYPE html><html><head><title>${title}</title></head><body>${content}</body></html>`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * A browser reduced to what these pages need: a cookie jar, redirects, and submitting the page's one form
 * (hidden fields included) after `fill` had its say. Stops on a page without a form, or when `fill` says null.
 */
export class ScriptedBrowser {
  readonly #cookies = new Map<string, string>();

  async run(startUrl: string, fill: (fields: Record<string, string>, action: string) => Record<string, string> | null): Promise<string> {
    let response = await this.#request(startUrl, 'GET');
    for (let step = 0; step < 20; step++) {
      const html = await response.text();
      if (response.status >= 400) throw new Error(`browser: ${response.url} answered ${response.status}: ${html.slice(0, 200)}`);
      const form = /<form[^>]*action="([^"]+)"[^>]*>([\s\S]*?)<\/form>/i.exec(html);
      if (!form) return html;
      const fields: Record<string, string> = {};
      for (const input of form[2]!.matchAll(/<input\b([^>]*)>/gi)) {
        const name = /name="([^"]*)"/.exec(input[1]!)?.[1];
        if (name !== undefined) fields[name] = decodeEntities(/value="([^"]*)"/.exec(input[1]!)?.[1] ?? '');
      }
      const action = new URL(decodeEntities(form[1]!), response.url).href;
      const submit = fill(fields, action);
      if (submit === null) return html;
      response = await this.#request(action, 'POST', new URLSearchParams(submit).toString());
    }
    throw new Error('browser: too many steps');
  }

  async #request(url: string, method: string, body?: string): Promise<Response> {
    let current = url;
    let currentMethod = method;
    let currentBody = body;
    for (let hop = 0; hop < 20; hop++) {
      const headers: Record<string, string> = { cookie: [...this.#cookies].map(([k, v]) => `${k}=${v}`).join('; ') };
      if (currentBody !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
      const response = await fetch(current, { method: currentMethod, headers, redirect: 'manual', ...(currentBody !== undefined ? { body: currentBody } : {}) });
      for (const cookie of response.headers.getSetCookie()) {
        const [pair = '', ...attributes] = cookie.split(';');
        const eq = pair.indexOf('=');
        const name = pair.slice(0, eq).trim();
        const expired = attributes.some((a) => /^\s*expires=Thu, 01 Jan 1970/i.test(a));
        if (expired) this.#cookies.delete(name);
        else this.#cookies.set(name, pair.slice(eq + 1));
      }
      const location = response.headers.get('location');
      if (response.status < 300 || response.status >= 400 || location === null) {
        Object.defineProperty(response, 'url', { value: current });
        return response;
      }
      await response.arrayBuffer();
      current = new URL(location, current).href;
      currentMethod = 'GET';
      currentBody = undefined;
    }
    throw new Error('browser: too many redirects');
  }
}

function decodeEntities(text: string): string {
  return text.replace(/&amp;/g, '&').replace(/&quot;/g, '"').replace(/&#x27;|&#39;/g, "'").replace(/&lt;/g, '<').replace(/&gt;/g, '>');
}
