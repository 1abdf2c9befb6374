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

/** What an allow carries besides the principal's identity. */
export interface AllowDetails {
  /** The plan whose limits applied when the principal carries none (the service's default). */
  readonly plan?: string | undefined;
  /** Where the credential was found, for the gateway to strip (unless the service forwards credentials). */
  readonly stripHeader?: string | undefined;
  readonly stripQueryParam?: string | undefined;
  /** RateLimit headers for the client response. */
  readonly responseHeaders?: readonly HeaderPair[];
  /** In shadow mode: the denial that was not enforced. */
  readonly shadowDenial?: ErrorCode;
}

const NO_DETAILS: AllowDetails = Object.freeze({});

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
  readonly #planName: string;

  constructor(names: IdentityHeaderNames) {
    this.#names = names;
    this.#allNames = Object.values(names).map((n) => n.toLowerCase());
    this.#planName = names.plan.toLowerCase();
    this.#anonymousIdentity = this.#identity(undefined);
  }

  /**
   * Identity headers for the upstream. Every identity header this answer does not set is listed for removal,
   * so a client can never smuggle its own X-Portcullis-Key-Id past the gateway.
   */
  allow(id: string, route: RouteRef, principal: Principal | undefined, details: AllowDetails = NO_DETAILS): AllowDecision {
    let identity = principal === undefined ? this.#anonymousIdentity : this.#identities.get(principal);
    if (identity === undefined) {
      identity = this.#identity(principal);
      // anonymous principals are made per request: remembering them would only fill the map
      if (principal!.authMethod !== 'anonymous') this.#identities.set(principal!, identity);
    }
    const upstreamHeaders: HeaderPair[] = [[this.#names.decisionId, id], ...identity.headers];
    // the plan that applied: the principal's own, else the service's default (which varies by service); no
    // principal (a shadow-mode pass without credentials) drew from no bucket
    const plan = principal === undefined ? undefined : (principal.plan ?? details.plan);
    if (plan !== undefined) upstreamHeaders.push([this.#names.plan, plan]);
    let removeHeaders = identity.unset;
    if (plan === undefined || details.stripHeader !== undefined) {
      const extended = [...removeHeaders];
      if (plan === undefined) extended.push(this.#planName);
      if (details.stripHeader !== undefined) extended.push(details.stripHeader);
      removeHeaders = extended;
    }
    return {
      kind: 'allow',
      id,
      route,
      ...(principal !== undefined ? { principal } : {}),
      upstreamHeaders,
      removeHeaders,
      removeQueryParams: details.stripQueryParam === undefined ? [] : [details.stripQueryParam],
      responseHeaders: details.responseHeaders ?? [],
      ...(details.shadowDenial !== undefined ? { shadowDenial: details.shadowDenial } : {}),
    };
  }

  #identity(principal: Principal | undefined): Identity {
    const n = this.#names;
    const headers: HeaderPair[] = [];
    if (principal !== undefined) {
      headers.push([n.subject, headerSafe(principal.subject)], [n.consumer, headerSafe(principal.consumerId)], [n.authMethod, principal.authMethod]);
      if (principal.keyId !== undefined) headers.push([n.keyId, headerSafe(principal.keyId)]);
      if (principal.scopes.size > 0) headers.push([n.scopes, headerSafe(join(principal.scopes))]);
      if (principal.name !== undefined) headers.push([n.name, headerSafe(principal.name)]);
    }
    // the plan header is decided per answer (allow), never listed here
    const set = new Set([n.decisionId, n.plan, ...headers.map(([name]) => name)].map((name) => name.toLowerCase()));
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
