/**
 * Counters the HTTP adapter turns into Prometheus metrics. Plain numbers bumped on the request path (no
 * labels, no allocation); fetch events carry the issuer, which is configuration and so a bounded label.
 */
import type { KeyFetchEvent } from './key-source.js';

export interface JwtResolverStats {
  /** Tokens answered from the verified-token cache. */
  readonly cacheHits: number;
  /** Tokens answered from the cache of definitive rejections. */
  readonly negativeCacheHits: number;
  /** Tokens that needed decoding (and usually a signature check). */
  readonly cacheMisses: number;
  /** Signature verifications run (concurrent requests with the same new token share one). */
  readonly verifications: number;
  readonly jwksFetches: number;
  readonly jwksFetchFailures: number;
  readonly discoveryFetches: number;
  readonly discoveryFetchFailures: number;
  /** Outcomes that could not be decided (keys unavailable). */
  readonly unavailable: number;
  readonly cacheEntries: number;
  readonly negativeCacheEntries: number;
}

export type JwtResolverEvent = KeyFetchEvent;

export class JwtCounters {
  cacheHits = 0;
  negativeCacheHits = 0;
  cacheMisses = 0;
  verifications = 0;
  jwksFetches = 0;
  jwksFetchFailures = 0;
  discoveryFetches = 0;
  discoveryFetchFailures = 0;
  unavailable = 0;

  countFetch(event: KeyFetchEvent): void {
    if (event.type === 'jwks_fetch') {
      this.jwksFetches++;
      if (!event.ok) this.jwksFetchFailures++;
    } else {
      this.discoveryFetches++;
      if (!event.ok) this.discoveryFetchFailures++;
    }
  }
}
