/**
 * jose's errors → catalog codes, and the RFC 6750 challenge a 401 carries. Descriptions are fixed strings:
 * nothing from the token (claims, key ids) ever reaches the client or a log through them.
 */
import { errors } from 'jose';
import type { HeaderPair } from '../../core/decision.js';
import { ERROR_CATALOG, type ErrorCode } from '../../core/errors.js';
import type { ResolveOutcome } from '../resolver.js';
import { KeySourceUnavailable } from './key-source.js';

export type VerifyFailure =
  | {
      readonly kind: 'rejected';
      readonly code: ErrorCode;
      readonly detail: string;
      /** Definitive for this token under this issuer configuration: safe to remember. */
      readonly cacheable: boolean;
    }
  | { readonly kind: 'unavailable'; readonly detail: string };

export const rejection = (code: ErrorCode, detail: string, cacheable: boolean): VerifyFailure => ({ kind: 'rejected', code, detail, cacheable });

export const DETAIL = {
  tooLarge: 'the access token is too large',
  malformed: 'the access token is malformed',
  unsignedOrAlg: 'the access token is not signed with an accepted algorithm',
  badHeaderType: 'the access token header type is not accepted',
  noIssuer: 'the access token names no issuer',
  untrusted: 'the access token issuer is not trusted',
  expired: 'the access token has expired',
  notYetValid: 'the access token is not yet valid',
  noExpiry: 'the access token has no valid expiry',
  badClaims: 'the access token claims are invalid',
  noKey: 'no signing key of the issuer matches the access token',
  badSignature: 'the access token signature is invalid',
  notVerifiable: 'the access token could not be verified',
  audience: 'the access token was not issued for this API',
  tokenType: 'this token is not an access token',
  noSubject: 'the access token has no subject',
  keysUnavailable: 'the token issuer signing keys are unavailable',
  consumerDisabled: 'the consumer is disabled',
  consumerUnknown: 'the token subject is not linked to a consumer',
} as const;

/** What went wrong in jwtVerify, as a verdict. Unknown errors reject (fail closed), they never say "unavailable". */
export function verifyFailure(error: unknown): VerifyFailure {
  if (error instanceof KeySourceUnavailable) return { kind: 'unavailable', detail: DETAIL.keysUnavailable };
  if (error instanceof errors.JWTExpired) return rejection('token_expired', DETAIL.expired, true);
  if (error instanceof errors.JWTClaimValidationFailed) {
    switch (error.claim) {
      // becomes valid by itself: not to be remembered
      case 'nbf':
        return rejection('invalid_token', DETAIL.notYetValid, false);
      case 'iss':
        return rejection('untrusted_issuer', DETAIL.untrusted, true);
      case 'aud':
        return rejection('invalid_audience', DETAIL.audience, true);
      case 'exp':
        return rejection('invalid_token', DETAIL.noExpiry, true);
      default:
        return rejection('invalid_token', DETAIL.badClaims, true);
    }
  }
  // the key may be published a moment later (rotation): the bounded refetch handles it, a cache must not
  if (error instanceof errors.JWKSNoMatchingKey) return rejection('invalid_token', DETAIL.noKey, false);
  if (error instanceof errors.JWSSignatureVerificationFailed) return rejection('invalid_token', DETAIL.badSignature, true);
  if (error instanceof errors.JOSEAlgNotAllowed || error instanceof errors.JOSENotSupported) return rejection('invalid_token', DETAIL.unsignedOrAlg, true);
  if (error instanceof errors.JWSInvalid || error instanceof errors.JWTInvalid) return rejection('invalid_token', DETAIL.malformed, true);
  return rejection('invalid_token', DETAIL.notVerifiable, false);
}

const quoted = (value: string) => value.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, '');

/** `WWW-Authenticate: Bearer realm=…, error="invalid_token", error_description=…` (RFC 6750 §3). */
export function bearerChallenge(realm: string, description: string): string {
  return `Bearer realm="${quoted(realm)}", error="invalid_token", error_description="${quoted(description)}"`;
}

/**
 * Rejection outcomes, built once per (code, detail) and shared: a flood of bad tokens costs no allocation
 * here. 401s carry the Bearer challenge; 403s (consumer problems) do not, the token itself was fine.
 */
export class Rejections {
  readonly #outcomes = new Map<string, ResolveOutcome>();

  constructor(private readonly realm: string) {}

  outcome(code: ErrorCode, detail: string): ResolveOutcome {
    const key = `${code}\u0000${detail}`;
    let outcome = this.#outcomes.get(key);
    if (outcome === undefined) {
      const headers: readonly HeaderPair[] = ERROR_CATALOG[code].status === 401 ? [['WWW-Authenticate', bearerChallenge(this.realm, detail)]] : [];
      outcome = Object.freeze({ kind: 'rejected', code, detail, ...(headers.length > 0 ? { headers: Object.freeze(headers) } : {}) });
      this.#outcomes.set(key, outcome);
    }
    return outcome;
  }
}
