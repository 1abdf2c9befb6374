/**
 * The decision core: route match → authenticate → authorize → rate buckets → answer. Transport-free; the
 * forwardAuth/auth_request and ext_authz adapters are thin translations around `decide`.
 *
 * Invariants: authentication never fails open (a resolver that cannot decide yields 503, an unexpected
 * exception yields 500); only the rate-limit store may be bypassed, and only on routes whose fail_mode says so.
 */
import { randomBytes } from 'node:crypto';
import type { CredentialLocation, CredentialResolver } from '../credentials/resolver.js';
import { rateLimitHeaders } from '../limits/headers.js';
import type { BucketRequest, LimitOutcome, RateLimiter } from '../limits/limiter.js';
import type { CompiledRoute, CompiledService, CompiledState } from '../state/compile.js';
import { AnswerBuilder } from './answer.js';
import { type AuthenticationOutcome, authenticate } from './authenticate.js';
import { bucketsFor } from './buckets.js';
import type { Decision, HeaderPair, Principal } from './decision.js';
import type { DecisionEngine } from './engine.js';
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from './identity-headers.js';
import { andThen, isPromise, type MaybePromise } from './maybe-promise.js';
import type { NormalizedRequest } from './request.js';

export interface DecisionEngineOptions {
  /** The current compiled state; undefined until the first one is loaded. */
  readonly state: () => CompiledState | undefined;
  /** True when the state is older than the deployment tolerates (sync issue); decisions then fail closed. */
  readonly stateIsStale?: () => boolean;
  readonly resolvers: readonly CredentialResolver[];
  readonly limiter: RateLimiter;
  /** Per-replica fallback for fail_mode=open services while `limiter` cannot answer. */
  readonly insurance?: RateLimiter;
  readonly identityHeaders?: IdentityHeaderNames;
  readonly clock?: () => number;
  readonly newId?: () => string;
  /** Told about exceptions that became internal_error denials (for logs); never about credentials. */
  readonly onInternalError?: (error: unknown, decisionId: string) => void;
}

const RETRY_SOON: readonly HeaderPair[] = [['Retry-After', '1']];
const NO_HEADERS: readonly HeaderPair[] = [];

/** What the later steps need to know about the request being judged. */
interface Judging {
  readonly id: string;
  readonly request: NormalizedRequest;
  readonly state: CompiledState;
  readonly service: CompiledService;
  readonly route: CompiledRoute;
}

/** An authenticated, authorized request on its way to an allow (unless a bucket refuses it). */
interface Allowed {
  readonly judging: Judging;
  readonly principal: Principal;
  /** Where the credential was found, unless the service forwards credentials to its upstream. */
  readonly stripHeader: string | undefined;
  readonly stripQueryParam: string | undefined;
}
const DAY_SECONDS = 86_400;

/** Decision ids: a random per-process prefix and a counter — unique, short and nearly free to make. */
export function decisionIdGenerator(): () => string {
  const prefix = randomBytes(6).toString('base64url');
  let counter = 0;
  return () => `${prefix}${(counter++).toString(36)}`;
}

function anonymous(clientIp: string): Principal {
  return { authMethod: 'anonymous', subject: 'anonymous', consumerId: `ip:${clientIp}`, scopes: new Set(), roles: new Set() };
}

function missing(required: readonly string[], held: ReadonlySet<string>): string[] {
  return required.filter((item) => !held.has(item));
}

export class PipelineEngine implements DecisionEngine {
  readonly #options: DecisionEngineOptions;
  readonly #answer: AnswerBuilder;
  readonly #clock: () => number;
  readonly #newId: () => string;

  constructor(options: DecisionEngineOptions) {
    this.#options = options;
    this.#answer = new AnswerBuilder(options.identityHeaders ?? DEFAULT_IDENTITY_HEADERS);
    this.#clock = options.clock ?? Date.now;
    this.#newId = options.newId ?? decisionIdGenerator();
  }

  decide(request: NormalizedRequest): MaybePromise<Decision> {
    const id = this.#newId();
    try {
      const state = this.#options.state();
      if (state === undefined) return this.#answer.deny(id, 'state_stale', 'No authorization state has been loaded yet.', RETRY_SOON);
      if (this.#options.stateIsStale?.()) return this.#answer.deny(id, 'state_stale', 'The authorization state is too old to trust.', RETRY_SOON);
      const match = state.matchRoute(request.host, request.path, request.method, request.contextExtensions);
      if (match.kind === 'no_route') return this.#answer.deny(id, 'no_route', 'No protected service matches this host and path.');
      const judging: Judging = { id, request, state, service: match.service, route: match.route };
      const auth = authenticate(this.#options.resolvers, request, { state, service: match.service, now: this.#clock() });
      const verdict = andThen(auth, (settled) => this.#judge(judging, settled));
      if (match.service.spec.mode === 'shadow') {
        return isPromise(verdict) ? verdict.then((settled) => this.#shadow(judging, settled), (error) => this.#failed(id, error)) : this.#shadow(judging, verdict);
      }
      return isPromise(verdict) ? verdict.catch((error: unknown) => this.#failed(id, error)) : verdict;
    } catch (error) {
      return this.#failed(id, error);
    }
  }

  /** Shadow mode: what would have been denied is allowed, and the denial travels along for metrics and logs. */
  #shadow({ id, route, service }: Judging, verdict: Decision): Decision {
    if (verdict.kind === 'allow') return verdict;
    return this.#answer.allow(id, route.ref, verdict.principal, { plan: service.spec.plan, shadowDenial: verdict.code });
  }

  #failed(id: string, error: unknown): Decision {
    this.#options.onInternalError?.(error, id);
    return this.#answer.deny(id, 'internal_error', 'The request could not be judged.');
  }

  /** Steps 3 and 4 once the credential is known: authorize, then draw from the rate buckets. */
  #judge(judging: Judging, auth: AuthenticationOutcome): MaybePromise<Decision> {
    const { id, request, state, service, route } = judging;
    const ref = route.ref;
    let principal: Principal;
    let location: CredentialLocation | undefined;
    switch (auth.kind) {
      case 'resolved':
        principal = auth.principal;
        location = auth.location;
        break;
      case 'rejected':
        return this.#answer.deny(id, auth.code, auth.detail, auth.headers, ref);
      case 'unavailable':
        return this.#answer.deny(id, 'dependency_unavailable', auth.detail, RETRY_SOON, ref);
      case 'not_accepted':
        return this.#answer.deny(id, 'credential_not_accepted', `This service does not accept ${auth.type} credentials.`, [], ref);
      case 'missing':
        if (!route.public) return this.#answer.deny(id, 'missing_credential', 'Send an API key or a bearer token.', [], ref);
        principal = anonymous(request.clientIp);
        break;
    }

    // ── authorize ───────────────────────────────────────────────────────────────
    if (principal.services !== undefined && !principal.services.has(service.name)) {
      return this.#answer.deny(id, 'service_not_allowed', 'This credential is restricted to other services.', [], ref, principal);
    }
    const lackingScopes = missing(route.scopes, principal.scopes);
    const lackingRoles = missing(route.roles, principal.roles);
    if (lackingScopes.length > 0 || lackingRoles.length > 0) {
      const detail = [
        lackingScopes.length > 0 ? `missing scope(s): ${lackingScopes.join(' ')}` : '',
        lackingRoles.length > 0 ? `missing role(s): ${lackingRoles.join(' ')}` : '',
      ]
        .filter(Boolean)
        .join('; ');
      const challenge: HeaderPair = [
        'WWW-Authenticate',
        `Bearer realm="portcullis", error="insufficient_scope", scope="${route.scopes.join(' ')}"`,
      ];
      return this.#answer.deny(id, 'insufficient_scope', detail, [challenge], ref, principal);
    }

    // ── rate buckets ────────────────────────────────────────────────────────────
    const strip = service.spec.forward_credentials ? undefined : location;
    const allowed: Allowed = { judging, principal, stripHeader: strip?.header, stripQueryParam: strip?.queryParam };
    const planName = principal.plan ?? service.spec.plan;
    const buckets = bucketsFor(principal, service.name, planName === undefined ? undefined : state.plans.get(planName));
    if (buckets.length === 0) return this.#allow(allowed, NO_HEADERS);
    const outcome = this.#options.limiter.consume(buckets, route.cost);
    return andThen(outcome, (settled) => this.#limited(allowed, buckets, settled));
  }

  #limited(allowed: Allowed, buckets: readonly BucketRequest[], outcome: LimitOutcome): MaybePromise<Decision> {
    if (outcome.kind !== 'unavailable') return this.#applyLimit(allowed, outcome);
    const { judging, principal } = allowed;
    if (judging.service.spec.fail_mode === 'closed') {
      return this.#answer.deny(judging.id, 'dependency_unavailable', 'The rate-limit store is unavailable.', RETRY_SOON, judging.route.ref, principal);
    }
    const insurance = this.#options.insurance;
    if (insurance === undefined) return this.#allow(allowed, NO_HEADERS);
    const fallback = insurance.consume(buckets, judging.route.cost);
    return andThen(fallback, (settled) => this.#applyLimit(allowed, settled));
  }

  #applyLimit(allowed: Allowed, outcome: LimitOutcome): Decision {
    if (outcome.kind === 'limited') {
      const { judging, principal } = allowed;
      const code = outcome.violated.windowSeconds >= DAY_SECONDS ? 'quota_exceeded' : 'rate_limited';
      const detail = `Limit of ${outcome.violated.limit} per ${outcome.violated.policy} reached; retry in ${outcome.retryAfterSeconds}s.`;
      return this.#answer.deny(judging.id, code, detail, rateLimitHeaders(outcome), judging.route.ref, principal);
    }
    // an insurance limiter that is itself unavailable lets the request pass without headers (fail_mode open)
    return this.#allow(allowed, outcome.kind === 'allowed' ? rateLimitHeaders(outcome) : NO_HEADERS);
  }

  #allow({ judging, principal, stripHeader, stripQueryParam }: Allowed, responseHeaders: readonly HeaderPair[]): Decision {
    return this.#answer.allow(judging.id, judging.route.ref, principal, { plan: judging.service.spec.plan, stripHeader, stripQueryParam, responseHeaders });
  }
}

export function createDecisionEngine(options: DecisionEngineOptions): PipelineEngine {
  return new PipelineEngine(options);
}

