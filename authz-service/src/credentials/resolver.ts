/**
 * A credential resolver turns one kind of credential into a principal. Resolvers are tried in order; the
 * first one that is responsible decides. "Not responsible" (no credential of my kind here) is what lets an
 * API key and a JWT share the Authorization header.
 */
import type { ErrorCode } from '../core/errors.js';
import type { HeaderPair, Principal } from '../core/decision.js';
import type { MaybePromise } from '../core/maybe-promise.js';
import type { NormalizedRequest } from '../core/request.js';
import type { CompiledService, CompiledState } from '../state/compile.js';
import type { CredentialType } from '../state/schema.js';

export interface ResolveContext {
  readonly state: CompiledState;
  readonly service: CompiledService;
  /** Epoch ms; injected so that expiry is testable with a fixed clock. */
  readonly now: number;
}

/** Where the credential was found, so the gateway can strip it before the upstream sees it. */
export interface CredentialLocation {
  readonly header?: string;
  readonly queryParam?: string;
}

export type ResolveOutcome =
  | { readonly kind: 'not_responsible' }
  | { readonly kind: 'rejected'; readonly code: ErrorCode; readonly detail: string; readonly headers?: readonly HeaderPair[] }
  /** Could not decide (JWKS unreachable for a token we have never seen): never an allow, never a 401. */
  | { readonly kind: 'unavailable'; readonly detail: string }
  | { readonly kind: 'resolved'; readonly principal: Principal; readonly location: CredentialLocation };

export const NOT_RESPONSIBLE: ResolveOutcome = Object.freeze({ kind: 'not_responsible' });

export interface CredentialResolver {
  readonly type: CredentialType;
  /** Cheap check: does the request carry something of my kind? Tells "not accepted here" from "missing". */
  present(request: NormalizedRequest, service: CompiledService): boolean;
  resolve(request: NormalizedRequest, context: ResolveContext): MaybePromise<ResolveOutcome>;
}

/** Extract a bearer token from an Authorization header value ("Bearer x", case-insensitive scheme). */
export function bearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined || authorization.length < 8) return undefined;
  const c = authorization.charCodeAt(6);
  if (c !== 32 || authorization.slice(0, 6).toLowerCase() !== 'bearer') return undefined;
  const token = authorization.slice(7).trim();
  return token.length === 0 ? undefined : token;
}
