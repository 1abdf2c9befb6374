/**
 * The one error catalog. Every denial the data plane can produce, and every problem the control plane
 * answers with, is a code here; adapters read status, gRPC code and metric reason from this table only.
 */

/** google.rpc.Code values used by the Envoy adapter and the sync service. */
export const GrpcCode = {
  OK: 0,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  UNAUTHENTICATED: 16,
} as const;
export type GrpcCode = (typeof GrpcCode)[keyof typeof GrpcCode];

export interface CatalogEntry {
  /** HTTP status the client sees. */
  readonly status: number;
  /** google.rpc.Code an ext_authz denial (or a sync/admin gRPC error) carries. */
  readonly grpc: GrpcCode;
  /** Short human title for problem+json `title`. */
  readonly title: string;
  /**
   * True when the code means "we could not decide" rather than "no": a dependency is down on a fail-closed
   * route. gRPC adapters answer these as errors so the gateway's own failure policy applies.
   */
  readonly failure?: true;
}

const entry = (status: number, grpc: GrpcCode, title: string, failure?: true): CatalogEntry =>
  failure ? { status, grpc, title, failure } : { status, grpc, title };

export const ERROR_CATALOG = {
  // ── request shape ──────────────────────────────────────────────────────────────
  invalid_request: entry(400, GrpcCode.INVALID_ARGUMENT, 'The request could not be understood'),
  no_route: entry(404, GrpcCode.NOT_FOUND, 'No protected service matches this request'),
  request_header_too_large: entry(431, GrpcCode.INVALID_ARGUMENT, 'The request header section is too large'),
  // ── authentication (401) ──────────────────────────────────────────────────────
  missing_credential: entry(401, GrpcCode.UNAUTHENTICATED, 'Credentials are required'),
  credential_not_accepted: entry(401, GrpcCode.UNAUTHENTICATED, 'This credential type is not accepted here'),
  malformed_api_key: entry(401, GrpcCode.UNAUTHENTICATED, 'The API key is malformed'),
  unknown_api_key: entry(401, GrpcCode.UNAUTHENTICATED, 'The API key is not valid'),
  api_key_revoked: entry(401, GrpcCode.UNAUTHENTICATED, 'The API key has been revoked'),
  api_key_expired: entry(401, GrpcCode.UNAUTHENTICATED, 'The API key has expired'),
  invalid_token: entry(401, GrpcCode.UNAUTHENTICATED, 'The access token is not valid'),
  token_expired: entry(401, GrpcCode.UNAUTHENTICATED, 'The access token has expired'),
  untrusted_issuer: entry(401, GrpcCode.UNAUTHENTICATED, 'The token issuer is not trusted'),
  invalid_audience: entry(401, GrpcCode.UNAUTHENTICATED, 'The token was not issued for this API'),
  wrong_token_type: entry(401, GrpcCode.UNAUTHENTICATED, 'This token type cannot be used as an access token'),
  // ── authorization (403) ───────────────────────────────────────────────────────
  insufficient_scope: entry(403, GrpcCode.PERMISSION_DENIED, 'The credential lacks a required scope or role'),
  service_not_allowed: entry(403, GrpcCode.PERMISSION_DENIED, 'The credential may not call this service'),
  unknown_consumer: entry(403, GrpcCode.PERMISSION_DENIED, 'The subject is not a registered consumer'),
  forbidden: entry(403, GrpcCode.PERMISSION_DENIED, 'Forbidden'),
  // ── limits (429) ──────────────────────────────────────────────────────────────
  rate_limited: entry(429, GrpcCode.RESOURCE_EXHAUSTED, 'Rate limit exceeded'),
  quota_exceeded: entry(429, GrpcCode.RESOURCE_EXHAUSTED, 'Quota exhausted for this period'),
  // ── could not decide ──────────────────────────────────────────────────────────
  dependency_unavailable: entry(503, GrpcCode.UNAVAILABLE, 'A dependency needed to decide is unavailable', true),
  state_stale: entry(503, GrpcCode.UNAVAILABLE, 'Authorization state is too stale to decide', true),
  internal_error: entry(500, GrpcCode.INTERNAL, 'Internal error', true),
  // ── control plane (REST) ──────────────────────────────────────────────────────
  validation_failed: entry(400, GrpcCode.INVALID_ARGUMENT, 'The request body or parameters are invalid'),
  payload_too_large: entry(413, GrpcCode.INVALID_ARGUMENT, 'The request body is too large'),
  unsupported_media_type: entry(415, GrpcCode.INVALID_ARGUMENT, 'Unsupported content type'),
  not_found: entry(404, GrpcCode.NOT_FOUND, 'Not found'),
  conflict: entry(409, GrpcCode.FAILED_PRECONDITION, 'The resource conflicts with an existing one'),
  idempotency_conflict: entry(422, GrpcCode.FAILED_PRECONDITION, 'Idempotency-Key was reused with a different request'),
  upstream_provider_error: entry(502, GrpcCode.UNAVAILABLE, 'An external provider failed', true),
  timeout: entry(503, GrpcCode.UNAVAILABLE, 'The request timed out', true),
} as const satisfies Record<string, CatalogEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOG;

export const PROBLEM_TYPE_BASE = 'https://portcullis.dev/problems/';

export function catalogEntry(code: ErrorCode): CatalogEntry {
  return ERROR_CATALOG[code];
}

export function isErrorCode(value: string): value is ErrorCode {
  return Object.hasOwn(ERROR_CATALOG, value);
}

/** RFC 9457 problem document. `code` is the stable machine-readable identifier clients branch on. */
export interface Problem {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly code: ErrorCode;
  readonly detail?: string;
  /** decision id (data plane) or request id (control plane). */
  readonly instance?: string;
  readonly [extension: string]: unknown;
}

export function problem(code: ErrorCode, detail?: string, instance?: string, extensions?: Record<string, unknown>): Problem {
  const { status, title } = ERROR_CATALOG[code];
  return {
    type: PROBLEM_TYPE_BASE + code,
    title,
    status,
    code,
    ...(detail === undefined ? {} : { detail }),
    ...(instance === undefined ? {} : { instance }),
    ...extensions,
  };
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json';
