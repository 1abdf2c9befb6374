/**
 * Authenticates control-plane callers with the data plane's credential resolvers (API keys, JWTs), plus
 * static tokens from the environment (the bootstrap admin key, the gateway token). Outcomes are values;
 * the HTTP layer maps them.
 */
import type { HeaderPair } from '../../../authz-service/src/core/decision.js';
import type { ErrorCode } from '../../../authz-service/src/core/errors.js';
import type { NormalizedRequest } from '../../../authz-service/src/core/request.js';
import type { KeyHasher } from '../../../authz-service/src/credentials/api-key/format.js';
import { authenticate } from '../../../authz-service/src/core/authenticate.js';
import { bearerToken, type CredentialResolver } from '../../../authz-service/src/credentials/resolver.js';
import type { Secret } from '../../../authz-service/src/core/secret.js';
import { actorFromPrincipal, type Actor } from './actor.js';
import type { AuthState } from './auth-state.js';

export type AuthOutcome =
  | { readonly kind: 'authenticated'; readonly actor: Actor }
  | { readonly kind: 'rejected'; readonly code: ErrorCode; readonly detail: string; readonly headers: readonly HeaderPair[] }
  | { readonly kind: 'unavailable'; readonly detail: string };

export interface AuthenticatorOptions {
  readonly resolvers: readonly CredentialResolver[];
  readonly authState: () => Promise<AuthState>;
  readonly hasher: KeyHasher;
  /** Bearer tokens set in the environment, each standing for a fixed actor (bootstrap admin, gateway). */
  readonly staticTokens?: readonly StaticToken[];
  readonly adminRole: string;
  readonly clock: () => number;
}

export interface StaticToken {
  readonly token: Secret;
  readonly actor: Actor;
}

const CHALLENGE: HeaderPair = ['www-authenticate', 'Bearer realm="portcullis"'];

export class Authenticator {
  readonly #staticTokens: readonly { readonly hash: string; readonly actor: Actor }[];

  constructor(private readonly options: AuthenticatorOptions) {
    this.#staticTokens = (options.staticTokens ?? []).map((t) => ({ hash: options.hasher.hash(t.token.reveal()), actor: t.actor }));
  }

  async authenticate(request: NormalizedRequest): Promise<AuthOutcome> {
    const token = bearerToken(request.headers['authorization']);
    if (token !== undefined) {
      // constant-time (HMACs compared with timingSafeEqual): nothing leaks how much of a guess was right
      const known = this.#staticTokens.find((t) => this.options.hasher.matches(token, t.hash));
      if (known) return { kind: 'authenticated', actor: known.actor };
    }
    const { state, service } = await this.options.authState();
    const outcome = await authenticate(this.options.resolvers, request, { state, service, now: this.options.clock() });
    switch (outcome.kind) {
      case 'resolved':
        return { kind: 'authenticated', actor: actorFromPrincipal(outcome.principal, this.options.adminRole) };
      case 'rejected':
        return { kind: 'rejected', code: outcome.code, detail: outcome.detail, headers: [CHALLENGE, ...(outcome.headers ?? [])] };
      case 'unavailable':
        return { kind: 'unavailable', detail: outcome.detail };
      case 'not_accepted':
        return { kind: 'rejected', code: 'credential_not_accepted', detail: `${outcome.type} credentials are not accepted here`, headers: [CHALLENGE] };
      case 'missing':
        return token === undefined
          ? { kind: 'rejected', code: 'missing_credential', detail: 'send an API key or an access token as "Authorization: Bearer <credential>"', headers: [CHALLENGE] }
          : { kind: 'rejected', code: 'invalid_token', detail: 'the bearer token is neither a Portcullis API key nor a token from a trusted issuer', headers: [CHALLENGE] };
    }
  }
}
