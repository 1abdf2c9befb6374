/**
 * One verifier per issuer configuration (keyed by fingerprint) over one key source per issuer key location
 * (keyed by issuer and jwks_uri). A state swap that keeps an issuer reuses both; a change to an issuer's
 * audiences makes a new verifier but keeps its keys, so no JWKS request is made for it.
 */
import { type JWTPayload, type JWTVerifyOptions, type KeyObject, type CryptoKey, errors, jwtVerify } from 'jose';
import { type TokenIdentity, audienceAccepted, identityOf, isNonAccessToken } from './claims.js';
import { DETAIL, type VerifyFailure, rejection, verifyFailure } from './errors.js';
import type { IssuerEntry, IssuerIndex } from './issuer-index.js';
import { IssuerKeySource, type KeyFetchObserver, type KeySourceOptions } from './key-source.js';

export type VerifyResult = { readonly kind: 'verified'; readonly identity: TokenIdentity } | VerifyFailure;

/** Tokens without `kid` against a JWKS with several matching keys: try at most this many. */
const MAX_KEY_CANDIDATES = 8;

export class IssuerVerifier {
  readonly #options: Readonly<JWTVerifyOptions>;

  constructor(
    readonly entry: IssuerEntry,
    readonly keys: IssuerKeySource,
  ) {
    const { spec } = entry;
    this.#options = Object.freeze({
      issuer: [spec.issuer, ...spec.aliases],
      // only the configured asymmetric algorithms: an HS256 token "signed" with the public key never verifies
      algorithms: [...spec.algorithms],
      clockTolerance: spec.clock_tolerance_seconds,
      requiredClaims: ['exp'],
    });
  }

  /** Signature, issuer, time and type checks; the audience policy; the identity. Never throws. */
  async verify(token: string, now: number): Promise<VerifyResult> {
    const options: JWTVerifyOptions = { ...this.#options, currentDate: new Date(now) };
    let payload: JWTPayload;
    try {
      payload = (await jwtVerify(token, this.keys.getKey, options)).payload;
    } catch (error) {
      if (!(error instanceof errors.JWKSMultipleMatchingKeys)) return verifyFailure(error);
      try {
        payload = await verifyWithCandidates(token, error, options);
      } catch (candidateError) {
        return verifyFailure(candidateError);
      }
    }
    const { spec } = this.entry;
    if (isNonAccessToken(payload)) return rejection('wrong_token_type', DETAIL.tokenType, true);
    if (!audienceAccepted(payload, spec)) return rejection('invalid_audience', DETAIL.audience, true);
    const identity = identityOf(payload, spec);
    return identity === undefined ? rejection('invalid_token', DETAIL.noSubject, true) : { kind: 'verified', identity };
  }
}

/** jose hands the candidates of an ambiguous key match to the caller; the first whose signature holds wins. */
async function verifyWithCandidates(token: string, ambiguity: errors.JWKSMultipleMatchingKeys, options: JWTVerifyOptions): Promise<JWTPayload> {
  let tried = 0;
  let lastError: unknown = new errors.JWSSignatureVerificationFailed();
  for await (const key of ambiguity as AsyncIterable<CryptoKey | KeyObject>) {
    if (++tried > MAX_KEY_CANDIDATES) break;
    try {
      return (await jwtVerify(token, key, options)).payload;
    } catch (error) {
      // a failed claim check means the signature held: that verdict stands for every other key too
      if (!(error instanceof errors.JWSSignatureVerificationFailed)) throw error;
      lastError = error;
    }
  }
  throw lastError;
}

export class IssuerVerifiers {
  readonly #verifiers = new Map<string, IssuerVerifier>();
  readonly #keySources = new Map<string, IssuerKeySource>();

  constructor(
    private readonly keySourceOptions: KeySourceOptions,
    private readonly observe: KeyFetchObserver,
  ) {}

  verifierFor(entry: IssuerEntry): IssuerVerifier {
    let verifier = this.#verifiers.get(entry.fingerprint);
    if (verifier === undefined) {
      verifier = new IssuerVerifier(entry, this.#keySourceFor(entry));
      this.#verifiers.set(entry.fingerprint, verifier);
    }
    return verifier;
  }

  /** Forget verifiers and key sources the given state no longer uses (issuer removed or changed). */
  retainOnly(index: IssuerIndex): void {
    for (const fingerprint of this.#verifiers.keys()) if (!index.byFingerprint.has(fingerprint)) this.#verifiers.delete(fingerprint);
    const inUse = new Set<string>();
    for (const entry of index.byFingerprint.values()) inUse.add(keySourceKey(entry));
    for (const key of this.#keySources.keys()) if (!inUse.has(key)) this.#keySources.delete(key);
  }

  /** Fetch the keys of every issuer of the index now; resolves to the issuers whose keys could not be had. */
  async prefetch(index: IssuerIndex): Promise<string[]> {
    const entries = [...index.byFingerprint.values()];
    const results = await Promise.all(entries.map((entry) => this.#keySourceFor(entry).prefetch()));
    return entries.filter((_, i) => !results[i]).map((entry) => entry.spec.issuer);
  }

  #keySourceFor(entry: IssuerEntry): IssuerKeySource {
    const key = keySourceKey(entry);
    let source = this.#keySources.get(key);
    if (source === undefined) {
      source = new IssuerKeySource(entry.spec.issuer, entry.spec.jwks_uri, this.keySourceOptions, this.observe);
      this.#keySources.set(key, source);
    }
    return source;
  }
}

const keySourceKey = (entry: IssuerEntry) => `${entry.spec.issuer}\u0000${entry.spec.jwks_uri ?? ''}`;
