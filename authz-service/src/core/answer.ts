/**
 * Step 5: turn a verdict into the decision value adapters send — identity headers for an allow, catalog
 * status plus challenge/limit headers for a deny.
 */
import type { AllowDecision, DenyDecision, HeaderPair, Principal, RouteRef } from './decision.js';
import { ERROR_CATALOG, type ErrorCode } from './errors.js';
import type { IdentityHeaderNames } from './identity-headers.js';

const PRINTABLE = /^[\x20-\x7e]*$/;

/** Header values must be visible ASCII; anything else (a unicode username) travels percent-encoded. */
export function headerSafe(value: string): string {
  return PRINTABLE.test(value) ? value : encodeURIComponent(value);
}

function join(values: ReadonlySet<string>): string {
  let out = '';
  for (const v of values) out = out === '' ? v : `${out} ${v}`;
  return out;
}

/** The part of an allow that depends only on the principal; principals are cached, so this is computed once each. */
interface Identity {
  readonly headers: readonly HeaderPair[];
  /** Identity headers this principal does not set: stripped so a client cannot smuggle its own. */
  readonly unset: readonly string[];
}

export class AnswerBuilder {
  readonly #names: IdentityHeaderNames;
  readonly #allNames: readonly string[];
  readonly #challenge: HeaderPair = ['WWW-Authenticate', 'Bearer realm="portcullis"'];
  readonly #identities = new WeakMap<Principal, Identity>();
  readonly #anonymousIdentity: Identity;

  constructor(names: IdentityHeaderNames) {
    this.#names = names;
    this.#allNames = Object.values(names).map((n) => n.toLowerCase());
    this.#anonymousIdentity = this.#identity(undefined);
  }

  /**
   * Identity headers for the upstream. Every identity header this answer does not set is listed for removal,
   * so a client can never smuggle its own X-Portcullis-Key-Id past the gateway.
   */
  allow(
    id: string,
    route: RouteRef,
    principal: Principal | undefined,
    credentialHeader: string | undefined,
    credentialQueryParam: string | undefined,
    responseHeaders: readonly HeaderPair[],
    shadowDenial?: ErrorCode,
  ): AllowDecision {
    let identity = principal === undefined ? this.#anonymousIdentity : this.#identities.get(principal);
    if (identity === undefined) {
      identity = this.#identity(principal);
      // anonymous principals are made per request: remembering them would only fill the map
      if (principal!.authMethod !== 'anonymous') this.#identities.set(principal!, identity);
    }
    return {
      kind: 'allow',
      id,
      route,
      ...(principal !== undefined ? { principal } : {}),
      upstreamHeaders: [[this.#names.decisionId, id], ...identity.headers],
      removeHeaders: credentialHeader === undefined ? identity.unset : [...identity.unset, credentialHeader],
      removeQueryParams: credentialQueryParam === undefined ? [] : [credentialQueryParam],
      responseHeaders,
      ...(shadowDenial !== undefined ? { shadowDenial } : {}),
    };
  }

  #identity(principal: Principal | undefined): Identity {
    const n = this.#names;
    const headers: HeaderPair[] = [];
    if (principal !== undefined) {
      headers.push([n.subject, headerSafe(principal.subject)], [n.consumer, headerSafe(principal.consumerId)], [n.authMethod, principal.authMethod]);
      if (principal.keyId !== undefined) headers.push([n.keyId, headerSafe(principal.keyId)]);
      if (principal.scopes.size > 0) headers.push([n.scopes, headerSafe(join(principal.scopes))]);
      if (principal.plan !== undefined) headers.push([n.plan, principal.plan]);
      if (principal.name !== undefined) headers.push([n.name, headerSafe(principal.name)]);
    }
    const set = new Set([n.decisionId, ...headers.map(([name]) => name)].map((name) => name.toLowerCase()));
    return Object.freeze({ headers: Object.freeze(headers), unset: Object.freeze(this.#allNames.filter((name) => !set.has(name))) });
  }

  deny(
    id: string,
    code: ErrorCode,
    detail: string,
    extraHeaders: readonly HeaderPair[] = [],
    route?: RouteRef,
    principal?: Principal,
  ): DenyDecision {
    let headers = extraHeaders;
    if (isAuthenticationFailure(code) && !extraHeaders.some(([name]) => name.toLowerCase() === 'www-authenticate')) {
      headers = [this.#challenge, ...extraHeaders];
    }
    return {
      kind: 'deny',
      id,
      code,
      detail,
      headers,
      ...(route !== undefined ? { route } : {}),
      ...(principal !== undefined ? { principal } : {}),
    };
  }
}

/** 401s carry a WWW-Authenticate challenge (RFC 9110 §11.6.1). */
export function isAuthenticationFailure(code: ErrorCode): boolean {
  return ERROR_CATALOG[code].status === 401;
}
