/**
 * The decision core: route match → authenticate → authorize → rate buckets → answer. Transport-free; the
 * forwardAuth/auth_request and ext_authz adapters are thin translations around `decide`.
 *
 * Invariants: authentication never fails open (a resolver that cannot decide yields 503, an unexpected
 * exception yields 500); only the rate-limit store may be bypassed, and only on routes whose fail_mode says so.
 */
import { randomBytes } from 'node:crypto';
import type { CredentialResolver, ResolveContext } from '../credentials/resolver.js';
import { rateLimitHeaders } from '../limits/headers.js';
import type { LimitOutcome, RateLimiter } from '../limits/limiter.js';
import type { CompiledRoute, CompiledService, CompiledState } from '../state/compile.js';
import { AnswerBuilder } from './answer.js';
import { authenticate } from './authenticate.js';
import { bucketsFor } from './buckets.js';
import type { Decision, HeaderPair, Principal } from './decision.js';
import type { DecisionEngine } from './engine.js';
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from './identity-headers.js';
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

  async decide(request: NormalizedRequest): Promise<Decision> {
    const id = this.#newId();
    try {
      const state = this.#options.state();
      if (state === undefined) return this.#answer.deny(id, 'state_stale', 'No authorization state has been loaded yet.', RETRY_SOON);
      if (this.#options.stateIsStale?.()) return this.#answer.deny(id, 'state_stale', 'The authorization state is too old to trust.', RETRY_SOON);
      const match = state.matchRoute(request.host, request.path, request.method, request.contextExtensions);
      if (match.kind === 'no_route') return this.#answer.deny(id, 'no_route', 'No protected service matches this host and path.');
      const verdict = await this.#judge(id, request, state, match.service, match.route);
      if (verdict.kind === 'deny' && match.service.spec.mode === 'shadow') {
        return this.#answer.allow(id, match.route.ref, verdict.principal, undefined, undefined, [], verdict.code);
      }
      return verdict;
    } catch (error) {
      this.#options.onInternalError?.(error, id);
      return this.#answer.deny(id, 'internal_error', 'The request could not be judged.');
    }
  }

  async #judge(id: string, request: NormalizedRequest, state: CompiledState, service: CompiledService, route: CompiledRoute): Promise<Decision> {
    const ref = route.ref;
    const context: ResolveContext = { state, service, now: this.#clock() };

    // ── authenticate ────────────────────────────────────────────────────────────
    const auth = await authenticate(this.#options.resolvers, request, context);
    let principal: Principal;
    let location: { header?: string; queryParam?: string } | undefined;
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
    let responseHeaders: readonly HeaderPair[] = [];
    const planName = principal.plan ?? service.spec.plan;
    const buckets = bucketsFor(principal, service.name, planName === undefined ? undefined : state.plans.get(planName));
    if (buckets.length > 0) {
      let outcome: LimitOutcome | undefined = await this.#options.limiter.consume(buckets, route.cost);
      if (outcome.kind === 'unavailable') {
        if (service.spec.fail_mode === 'closed') {
          return this.#answer.deny(id, 'dependency_unavailable', 'The rate-limit store is unavailable.', RETRY_SOON, ref, principal);
        }
        outcome = this.#options.insurance ? await this.#options.insurance.consume(buckets, route.cost) : undefined;
      }
      if (outcome?.kind === 'limited') {
        const code = outcome.violated.windowSeconds >= DAY_SECONDS ? 'quota_exceeded' : 'rate_limited';
        const detail = `Limit of ${outcome.violated.limit} per ${outcome.violated.policy} reached; retry in ${outcome.retryAfterSeconds}s.`;
        return this.#answer.deny(id, code, detail, rateLimitHeaders(outcome), ref, principal);
      }
      if (outcome?.kind === 'allowed') responseHeaders = rateLimitHeaders(outcome);
    }

    // ── answer ──────────────────────────────────────────────────────────────────
    const strip = service.spec.forward_credentials ? undefined : location;
    return this.#answer.allow(id, ref, principal, strip?.header, strip?.queryParam, responseHeaders);
  }
}

export function createDecisionEngine(options: DecisionEngineOptions): PipelineEngine {
  return new PipelineEngine(options);
}

