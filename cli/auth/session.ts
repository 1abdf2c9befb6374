/**
 * The credential every control-plane call carries: `PORTCULLIS_TOKEN` when set (an API key or an access
 * token, used as-is), otherwise the stored login, refreshed with its refresh token when the access token
 * is within a minute of expiry (or half its lifetime, for short-lived ones). A refresh the provider
 * refuses ends the login and asks for a new one.
 */
import type { Settings } from '../config/settings.js';
import { authError } from '../exit.js';
import type { Io } from '../io.js';
import { jwtClaims } from './claims.js';
import { OidcClient, type TokenResponse } from './oidc-client.js';
import { type StoredTokens, TokenStore } from './token-store.js';

/** Refresh when less than this is left of the access token's life (at most half its lifetime). */
export const REFRESH_MARGIN_SECONDS = 60;

/** What the control-plane client asks for a bearer credential. */
export interface CredentialSource {
  bearer(): Promise<string>;
  /** After a 401: a fresh credential if one can be had (a refresh), else undefined. */
  renew(): Promise<string | undefined>;
  /** How to fix a rejected credential, for the error message. */
  readonly remedy: string;
}

export function storedTokensFrom(
  tokens: TokenResponse,
  context: { readonly issuer: string; readonly clientId: string; readonly grant: string; readonly nowMs: number; readonly previous?: StoredTokens },
): StoredTokens {
  const now = Math.floor(context.nowMs / 1000);
  const exp = jwtClaims(tokens.access_token)?.exp;
  const expiresAt = tokens.expires_in !== undefined ? now + Math.floor(tokens.expires_in) : exp;
  const refreshToken = tokens.refresh_token ?? context.previous?.refresh_token;
  const idToken = tokens.id_token ?? context.previous?.id_token;
  const scope = tokens.scope ?? context.previous?.scope;
  return {
    issuer: context.issuer,
    client_id: context.clientId,
    token_type: tokens.token_type,
    access_token: tokens.access_token,
    ...(refreshToken !== undefined ? { refresh_token: refreshToken } : {}),
    ...(idToken !== undefined ? { id_token: idToken } : {}),
    ...(scope !== undefined ? { scope } : {}),
    ...(expiresAt !== undefined ? { expires_at: expiresAt } : {}),
    obtained_at: now,
    grant: context.grant,
  };
}

export class Session implements CredentialSource {
  readonly store: TokenStore;
  /** The login as this process last loaded or refreshed it. */
  #current: StoredTokens | undefined;

  constructor(
    private readonly settings: Settings,
    private readonly io: Io,
  ) {
    this.store = new TokenStore(settings.paths.tokenFile);
  }

  get usesEnvironmentToken(): boolean {
    return this.settings.token.value !== undefined;
  }

  get remedy(): string {
    return this.usesEnvironmentToken ? 'check PORTCULLIS_TOKEN' : 'run `portcullis login`';
  }

  async bearer(): Promise<string> {
    if (this.settings.token.value !== undefined) return this.settings.token.value;
    return (await this.login()).access_token;
  }

  async renew(): Promise<string | undefined> {
    if (this.usesEnvironmentToken) return undefined;
    const loaded = await this.store.load();
    if (loaded.kind !== 'tokens' || loaded.tokens.refresh_token === undefined) return undefined;
    return (await this.#refresh(loaded.tokens)).access_token;
  }

  /** The stored login with a usable access token (refreshed if needed); exit 2 when there is none. */
  async login(): Promise<StoredTokens> {
    if (this.#current !== undefined && !this.#nearExpiry(this.#current)) return this.#current;
    const loaded = await this.store.load();
    if (loaded.kind === 'none') throw authError('Not logged in; run `portcullis login` (or set PORTCULLIS_TOKEN).');
    if (loaded.kind === 'corrupt') throw authError(`The stored login in ${this.store.file} is unreadable; run \`portcullis login\` again.`);
    this.#current = this.#nearExpiry(loaded.tokens) ? await this.#refresh(loaded.tokens) : loaded.tokens;
    return this.#current;
  }

  #nearExpiry(tokens: StoredTokens): boolean {
    if (tokens.expires_at === undefined) return false;
    const margin = Math.min(REFRESH_MARGIN_SECONDS, (tokens.expires_at - tokens.obtained_at) / 2);
    return tokens.expires_at - this.io.now() / 1000 < margin;
  }

  async #refresh(tokens: StoredTokens): Promise<StoredTokens> {
    if (tokens.refresh_token === undefined) {
      throw authError('Your login has expired and cannot be renewed; run `portcullis login` again.');
    }
    const client = new OidcClient(tokens.issuer, tokens.client_id);
    const outcome = await client.token({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token });
    if (!outcome.ok) {
      // another portcullis process may have refreshed (and rotated the refresh token) a moment ago
      const again = await this.store.load();
      if (again.kind === 'tokens' && again.tokens.access_token !== tokens.access_token && !this.#nearExpiry(again.tokens)) return (this.#current = again.tokens);
      await this.store.clear();
      throw authError(`Your session at ${tokens.issuer} has ended (${outcome.error}); run \`portcullis login\` again.`);
    }
    const next = storedTokensFrom(outcome.tokens, { issuer: tokens.issuer, clientId: tokens.client_id, grant: tokens.grant, nowMs: this.io.now(), previous: tokens });
    await this.store.save(next);
    this.#current = next;
    return next;
  }
}
