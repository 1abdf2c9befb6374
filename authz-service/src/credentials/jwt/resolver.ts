/**
 * The JWT credential resolver: `Authorization: Bearer <JWS>` from any configured OIDC issuer (Keycloak
 * included) → principal.
 *
 * Request path, cheapest first:
 *  1. verified-token cache: a token seen before costs one Map lookup until its `exp`; the consumer linking
 *     is memoised per state, so a hit allocates nothing;
 *  2. cache of definitive rejections (bad signature, expired, wrong audience …);
 *  3. decode without verifying, pick the issuer by `iss`, refuse what no key could make valid;
 *  4. jose's jwtVerify against the issuer's remote JWKS (shared by concurrent requests with the same token).
 * Cache entries are keyed by the issuer configuration's fingerprint, not by the state object, so key changes
 * keep them while a change to the issuer's audiences, algorithms or claim mapping invalidates them.
 */
import { type JWTPayload, type ProtectedHeaderParameters, decodeJwt, decodeProtectedHeader } from 'jose';
import type { NormalizedRequest } from '../../core/request.js';
import type { MaybePromise } from '../../core/maybe-promise.js';
import type { CompiledService, CompiledState } from '../../state/compile.js';
import type { IssuerSpec } from '../../state/schema.js';
import {
  type CredentialLocation,
  type CredentialResolver,
  NOT_RESPONSIBLE,
  type ResolveContext,
  type ResolveOutcome,
  bearerToken,
} from '../resolver.js';
import { type TokenIdentity, headerTypeAccepted } from './claims.js';
import { linkConsumer } from './consumer.js';
import { DETAIL, Rejections, verifyFailure } from './errors.js';
import { type IssuerEntry, issuerIndex } from './issuer-index.js';
import { type IssuerVerifier, IssuerVerifiers, type VerifyResult } from './issuer-verifiers.js';
import { JwtCounters, type JwtResolverEvent, type JwtResolverStats } from './stats.js';
import { BoundedTokenCache, type TokenEntry } from './token-cache.js';
import { isJwsCompact } from './token-shape.js';

export interface JwtResolverOptions {
  /** Longer tokens are rejected before any decoding. Default 16 KiB. */
  readonly maxTokenBytes?: number;
  /** Verified tokens remembered. Default 50 000. */
  readonly cacheMaxEntries?: number;
  /** A verified token is re-verified after this long even if `exp` is later (a key the IdP withdrew stops working). Default 10 min. */
  readonly cacheMaxTtlMs?: number;
  /** Definitively rejected tokens remembered. Default 1 000. */
  readonly negativeCacheMaxEntries?: number;
  readonly negativeCacheTtlMs?: number;
  /** Minimum interval between JWKS refetches caused by an unknown `kid`. Default 5 s. */
  readonly jwksCooldownMs?: number;
  /** Age after which JWKS keys are refetched before use. Default 10 min. */
  readonly jwksCacheMaxAgeMs?: number;
  /** Deadline for one discovery or JWKS request. Default 2 s. */
  readonly fetchTimeoutMs?: number;
  /** After a failed discovery/JWKS fetch, further fetches of that issuer fail at once for this long. Default 1 s. */
  readonly fetchFailureBackoffMs?: number;
  /** Largest discovery or JWKS response accepted. Default 1 MiB. */
  readonly maxKeyResponseBytes?: number;
  /** `realm` of the WWW-Authenticate challenge. Default "portcullis". */
  readonly realm?: string;
  /** Discovery and JWKS fetches, for metrics and logs. */
  readonly onEvent?: (event: JwtResolverEvent) => void;
}

export const JWT_RESOLVER_DEFAULTS = Object.freeze({
  maxTokenBytes: 16 * 1024,
  cacheMaxEntries: 50_000,
  cacheMaxTtlMs: 10 * 60_000,
  negativeCacheMaxEntries: 1_000,
  negativeCacheTtlMs: 60_000,
  jwksCooldownMs: 5_000,
  jwksCacheMaxAgeMs: 10 * 60_000,
  fetchTimeoutMs: 2_000,
  fetchFailureBackoffMs: 1_000,
  maxKeyResponseBytes: 1024 * 1024,
  realm: 'portcullis',
} satisfies Required<Omit<JwtResolverOptions, 'onEvent'>>);

/** The options with every default applied. */
export type JwtResolverSettings = { -readonly [K in keyof typeof JWT_RESOLVER_DEFAULTS]: (typeof JWT_RESOLVER_DEFAULTS)[K] extends string ? string : number };
type Settings = JwtResolverSettings;

function settingsOf(options: JwtResolverOptions): Settings {
  const settings: Settings = { ...JWT_RESOLVER_DEFAULTS };
  const problems: string[] = [];
  for (const name of Object.keys(JWT_RESOLVER_DEFAULTS) as (keyof Settings)[]) {
    const value = options[name];
    if (value === undefined) continue;
    if (name === 'realm') {
      if (typeof value !== 'string' || !/^[\x20-\x7e]{1,100}$/.test(value) || /["\\]/.test(value)) problems.push('realm must be 1-100 printable characters without quotes');
      else settings.realm = value;
    } else if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      problems.push(`${name} must be a non-negative integer`);
    } else {
      settings[name] = value;
    }
  }
  if (settings.maxTokenBytes < 64) problems.push('maxTokenBytes must be at least 64');
  if (settings.fetchTimeoutMs < 1) problems.push('fetchTimeoutMs must be at least 1');
  if (problems.length > 0) throw new RangeError(`invalid JWT resolver options: ${problems.join('; ')}`);
  return Object.freeze(settings);
}

const AUTHORIZATION_HEADER: CredentialLocation = Object.freeze({ header: 'authorization' });

interface VerifiedToken extends TokenEntry {
  readonly identity: TokenIdentity;
  readonly fingerprint: string;
  /** The outcome for one state generation; recomputed (cheaply) when the state object changes. */
  memo?: { readonly generation: number; readonly outcome: ResolveOutcome };
}

interface RejectedToken extends TokenEntry {
  readonly fingerprint: string;
  readonly outcome: ResolveOutcome;
}

interface InFlight {
  readonly fingerprint: string;
  readonly result: Promise<VerifyResult>;
}

export class JwtResolver implements CredentialResolver {
  readonly type = 'jwt' as const;
  readonly settings: Readonly<Settings>;
  readonly #counters = new JwtCounters();
  readonly #verified: BoundedTokenCache<VerifiedToken>;
  readonly #rejected: BoundedTokenCache<RejectedToken>;
  readonly #inFlight = new Map<string, InFlight>();
  readonly #verifiers: IssuerVerifiers;
  readonly #rejections: Rejections;
  readonly #adopted = new WeakSet<CompiledState>();
  #state: CompiledState | undefined;
  /** Bumped whenever a request brings a different state object than the previous one. */
  #generation = 0;

  constructor(options: JwtResolverOptions = {}) {
    this.settings = settingsOf(options);
    const s = this.settings;
    this.#verified = new BoundedTokenCache(s.cacheMaxEntries);
    this.#rejected = new BoundedTokenCache(s.negativeCacheMaxEntries);
    this.#rejections = new Rejections(s.realm);
    const onEvent = options.onEvent;
    this.#verifiers = new IssuerVerifiers(
      {
        cooldownMs: s.jwksCooldownMs,
        cacheMaxAgeMs: s.jwksCacheMaxAgeMs,
        timeoutMs: s.fetchTimeoutMs,
        failureBackoffMs: s.fetchFailureBackoffMs,
        maxResponseBytes: s.maxKeyResponseBytes,
      },
      (event) => {
        this.#counters.countFetch(event);
        onEvent?.(event);
      },
    );
  }

  present(request: NormalizedRequest, _service?: CompiledService): boolean {
    const token = bearerToken(request.headers['authorization']);
    // a token we have cached is known to be a JWS: skip scanning it again
    return token !== undefined && (this.#verified.holds(token) || isJwsCompact(token));
  }

  resolve(request: NormalizedRequest, context: ResolveContext): MaybePromise<ResolveOutcome> {
    // the caches only hold JWS-shaped tokens, so the shape check can wait until they miss
    const token = bearerToken(request.headers['authorization']);
    if (token === undefined) return NOT_RESPONSIBLE;
    const { state, now } = context;
    if (state !== this.#state) this.#adopt(state);

    const verified = this.#verified.get(token, now);
    if (verified !== undefined) {
      if (verified.memo?.generation === this.#generation) {
        this.#counters.cacheHits++;
        return verified.memo.outcome;
      }
      const entry = issuerIndex(state.issuers).byFingerprint.get(verified.fingerprint);
      if (entry !== undefined) {
        this.#counters.cacheHits++;
        return this.#link(verified, entry, state);
      }
      this.#verified.delete(token); // its issuer configuration changed or went away
    }
    const rejected = this.#rejected.get(token, now);
    if (rejected !== undefined) {
      if (issuerIndex(state.issuers).byFingerprint.has(rejected.fingerprint)) {
        this.#counters.negativeCacheHits++;
        return rejected.outcome;
      }
      this.#rejected.delete(token);
    }
    if (!isJwsCompact(token)) return NOT_RESPONSIBLE;
    this.#counters.cacheMisses++;
    return this.#resolveUncached(token, context);
  }

  /** Fetch every issuer's keys now (startup, new state) so first requests do not wait; returns the issuers that failed. */
  prefetch(issuers: readonly IssuerSpec[]): Promise<string[]> {
    return this.#verifiers.prefetch(issuerIndex(issuers));
  }

  stats(): JwtResolverStats {
    return Object.freeze({ ...this.#counters, cacheEntries: this.#verified.size, negativeCacheEntries: this.#rejected.size });
  }

  /** Forget every cached verdict (keys stay): e.g. after an incident. */
  clearCaches(): void {
    this.#verified.clear();
    this.#rejected.clear();
  }

  #adopt(state: CompiledState): void {
    this.#state = state;
    this.#generation++;
    // During a swap, requests of the old and the new state interleave; only a state never seen before
    // prunes, so a late request of the old state cannot throw away the keys of an issuer the new one added.
    if (!this.#adopted.has(state)) {
      this.#adopted.add(state);
      this.#verifiers.retainOnly(issuerIndex(state.issuers));
    }
  }

  async #resolveUncached(token: string, context: ResolveContext): Promise<ResolveOutcome> {
    const { state, now } = context;
    const entry = this.#issuerOf(token, state);
    if (!('fingerprint' in entry)) return entry;

    const result = await this.#verifyShared(this.#verifiers.verifierFor(entry), token, now);
    switch (result.kind) {
      case 'verified': {
        const cached: VerifiedToken = {
          token,
          identity: result.identity,
          fingerprint: entry.fingerprint,
          expiresAtMs: Math.min(result.identity.validUntilMs, now + this.settings.cacheMaxTtlMs),
        };
        if (cached.expiresAtMs > now) this.#verified.set(cached);
        return this.#link(cached, entry, state);
      }
      case 'rejected': {
        const outcome = this.#rejections.outcome(result.code, result.detail);
        if (result.cacheable) {
          this.#rejected.set({ token, fingerprint: entry.fingerprint, outcome, expiresAtMs: now + this.settings.negativeCacheTtlMs });
        }
        return outcome;
      }
      case 'unavailable':
        this.#counters.unavailable++;
        return { kind: 'unavailable', detail: result.detail };
    }
  }

  /** Decode without verifying and find the trusted issuer; what fails here fails without touching a key. */
  #issuerOf(token: string, state: CompiledState): IssuerEntry | ResolveOutcome {
    if (token.length > this.settings.maxTokenBytes) return this.#rejections.outcome('invalid_token', DETAIL.tooLarge);
    let header: ProtectedHeaderParameters;
    let payload: JWTPayload;
    try {
      header = decodeProtectedHeader(token);
      payload = decodeJwt(token);
    } catch {
      return this.#rejections.outcome('invalid_token', DETAIL.malformed);
    }
    const alg = header.alg;
    if (typeof alg !== 'string' || alg.toLowerCase() === 'none') return this.#rejections.outcome('invalid_token', DETAIL.unsignedOrAlg);
    if (!headerTypeAccepted(header)) return this.#rejections.outcome('invalid_token', DETAIL.badHeaderType);
    if (typeof payload.iss !== 'string') return this.#rejections.outcome('invalid_token', DETAIL.noIssuer);
    const entry = issuerIndex(state.issuers).byName.get(payload.iss);
    if (entry === undefined) return this.#rejections.outcome('untrusted_issuer', DETAIL.untrusted);
    // e.g. HS256 against an RSA issuer: refused before any JWKS request (jose would refuse it as well)
    if (!(entry.spec.algorithms as readonly string[]).includes(alg)) return this.#rejections.outcome('invalid_token', DETAIL.unsignedOrAlg);
    return entry;
  }

  /** Concurrent requests with the same new token wait for one verification. */
  #verifyShared(verifier: IssuerVerifier, token: string, now: number): Promise<VerifyResult> {
    const pending = this.#inFlight.get(token);
    if (pending !== undefined && pending.fingerprint === verifier.entry.fingerprint) return pending.result;
    this.#counters.verifications++;
    // verify() does not throw; should it ever, the request is refused, not left hanging
    const flight: InFlight = { fingerprint: verifier.entry.fingerprint, result: verifier.verify(token, now).catch(verifyFailure) };
    this.#inFlight.set(token, flight);
    void flight.result.finally(() => {
      if (this.#inFlight.get(token) === flight) this.#inFlight.delete(token);
    });
    return flight.result;
  }

  /** Consumer linking against the request's state, memoised for as long as that state is current. */
  #link(cached: VerifiedToken, entry: IssuerEntry, state: CompiledState): ResolveOutcome {
    const link = linkConsumer(cached.identity, entry.spec, state);
    const outcome: ResolveOutcome =
      link.kind === 'linked'
        ? Object.freeze({ kind: 'resolved', principal: link.principal, location: AUTHORIZATION_HEADER })
        : link.kind === 'disabled'
          ? this.#rejections.outcome('forbidden', DETAIL.consumerDisabled)
          : this.#rejections.outcome('unknown_consumer', DETAIL.consumerUnknown);
    if (state === this.#state) cached.memo = { generation: this.#generation, outcome };
    return outcome;
  }
}
