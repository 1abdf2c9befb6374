/**
 * What the decision core returns. Denials are values, never exceptions: adapters switch on `kind` and read
 * status codes from the error catalog.
 */
import { type ErrorCode, problem } from './errors.js';
import type { CompiledLimit } from '../state/compile.js';

export type AuthMethod = 'api_key' | 'jwt' | 'anonymous';

/** Who is calling, after authentication. Immutable; shared between the token cache and decisions. */
export interface Principal {
  readonly authMethod: AuthMethod;
  /** Stable subject: the JWT `sub`, or the consumer id behind an API key. */
  readonly subject: string;
  /** Consumer whose buckets this principal draws from. */
  readonly consumerId: string;
  /** Human-readable name (`preferred_username`, consumer name). */
  readonly name?: string;
  readonly keyId?: string;
  readonly issuer?: string;
  readonly scopes: ReadonlySet<string>;
  readonly roles: ReadonlySet<string>;
  /** Plan the principal carries (key plan, else consumer plan); the service default applies when absent. */
  readonly plan?: string;
  /** Services this credential may call; undefined: all. */
  readonly services?: ReadonlySet<string>;
  /** Per-key extra windows, counted in the key's own bucket. */
  readonly keyLimits?: readonly CompiledLimit[];
  /** Epoch ms after which a cached form of this principal must not be used (token exp, key expiry). */
  readonly validUntilMs?: number;
}

/** The service and route a request was matched to. */
export interface RouteRef {
  readonly service: string;
  readonly route: string;
}

export type HeaderPair = readonly [name: string, value: string];

export interface AllowDecision {
  readonly kind: 'allow';
  readonly id: string;
  readonly route: RouteRef;
  /** Absent only when shadow mode let an unauthenticated request through. */
  readonly principal?: Principal;
  /** Identity headers for the upstream request (set, overwriting any the client sent). */
  readonly upstreamHeaders: readonly HeaderPair[];
  /** Request headers the gateway must strip before the upstream sees them (credentials). */
  readonly removeHeaders: readonly string[];
  /** Query parameters the gateway should strip (a key passed as `?user_key=`), where it can. */
  readonly removeQueryParams: readonly string[];
  /** Headers for the client response (RateLimit-*). */
  readonly responseHeaders: readonly HeaderPair[];
  /** In shadow mode: the denial that was not enforced. */
  readonly shadowDenial?: ErrorCode;
}

export interface DenyDecision {
  readonly kind: 'deny';
  readonly id: string;
  readonly code: ErrorCode;
  /** Safe for the client: never echoes a credential or internal state. */
  readonly detail: string;
  /** WWW-Authenticate, Retry-After, RateLimit-* … */
  readonly headers: readonly HeaderPair[];
  readonly route?: RouteRef;
  readonly principal?: Principal;
}

export type Decision = AllowDecision | DenyDecision;

/** The problem+json document for a denial; both the HTTP and the gRPC adapter send exactly this body. */
export function denialBody(decision: DenyDecision): string {
  return JSON.stringify(problem(decision.code, decision.detail, decision.id));
}
