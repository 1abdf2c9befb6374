/**
 * The signing keys of one issuer: its JWKS (from `jwks_uri`, or found through OIDC discovery), fetched and
 * cached by jose's remote JWK set. An unknown `kid` makes jose refetch at most once per cooldown; that is
 * the bounded refetch a flood of made-up key ids cannot turn into a flood of requests to the provider.
 *
 * Every way of not getting keys (refused, timed out, non-200, junk, wrong issuer in discovery) surfaces as
 * KeySourceUnavailable, which the verifier reports as "could not decide", never as a bad token.
 */
import { type JWTVerifyGetKey, createRemoteJWKSet, customFetch, errors } from 'jose';
import { FetchFailed, fetchFailureReason, fetchJson } from './fetch-json.js';

export class KeySourceUnavailable extends Error {
  override readonly name = 'KeySourceUnavailable';
}

export interface KeySourceOptions {
  /** Minimum time between two JWKS fetches caused by an unknown `kid`. */
  readonly cooldownMs: number;
  /** Keys older than this are refetched before use. */
  readonly cacheMaxAgeMs: number;
  /** Deadline of one discovery or JWKS request. */
  readonly timeoutMs: number;
  /** After a failed fetch, further fetches fail at once for this long (no retry storm against a down IdP). */
  readonly failureBackoffMs: number;
  readonly maxResponseBytes: number;
}

export interface KeyFetchEvent {
  readonly type: 'jwks_fetch' | 'discovery_fetch';
  /** Canonical issuer; configuration, so a bounded label. */
  readonly issuer: string;
  readonly ok: boolean;
  readonly durationMs: number;
  /** Why it failed (never contains response content). */
  readonly reason?: string;
}

export type KeyFetchObserver = (event: KeyFetchEvent) => void;

type RemoteKeySet = ReturnType<typeof createRemoteJWKSet>;
type FetchKind = KeyFetchEvent['type'];

const JSON_ACCEPT = { accept: 'application/json' };

function isJwkSet(json: unknown): boolean {
  if (typeof json !== 'object' || json === null) return false;
  const keys = (json as { keys?: unknown }).keys;
  return Array.isArray(keys) && keys.every((k) => typeof k === 'object' && k !== null && !Array.isArray(k));
}

function discoveryUrl(issuer: string): string {
  return `${issuer.endsWith('/') ? issuer.slice(0, -1) : issuer}/.well-known/openid-configuration`;
}

function httpUrl(value: unknown): URL | undefined {
  if (typeof value !== 'string') return undefined;
  try {
    const url = new URL(value);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

export class IssuerKeySource {
  #keySet: RemoteKeySet | undefined;
  #discovering: Promise<RemoteKeySet> | undefined;
  #failedUntil = 0;

  constructor(
    readonly issuer: string,
    /** Absent: discovered from the issuer's OIDC discovery document. */
    readonly jwksUri: string | undefined,
    private readonly options: KeySourceOptions,
    private readonly observe: KeyFetchObserver,
  ) {
    if (jwksUri !== undefined) this.#keySet = this.#createKeySet(new URL(jwksUri));
  }

  /** jose key resolver: the key for a token header, or KeySourceUnavailable / jose's no-matching-key errors. */
  readonly getKey: JWTVerifyGetKey = async (header, token) => {
    const keySet = this.#keySet ?? (await this.#discover());
    try {
      return await keySet(header, token);
    } catch (error) {
      // these say something about the token; everything else means the keys could not be had
      if (
        error instanceof errors.JWKSNoMatchingKey ||
        error instanceof errors.JWKSMultipleMatchingKeys ||
        error instanceof errors.JOSENotSupported ||
        error instanceof KeySourceUnavailable
      ) {
        throw error;
      }
      throw new KeySourceUnavailable(`signing keys unusable: ${fetchFailureReason(error)}`);
    }
  };

  /** Fetch keys now (at startup or when an issuer appears) so the first request does not wait. */
  async prefetch(): Promise<boolean> {
    try {
      const keySet = this.#keySet ?? (await this.#discover());
      await keySet.reload();
      return true;
    } catch {
      return false;
    }
  }

  #createKeySet(url: URL): RemoteKeySet {
    return createRemoteJWKSet(url, {
      cooldownDuration: this.options.cooldownMs,
      cacheMaxAge: this.options.cacheMaxAgeMs,
      timeoutDuration: this.options.timeoutMs,
      [customFetch]: async (href, init) => {
        const { text } = await this.#fetch('jwks_fetch', href, init.signal, init.headers, (json) => {
          if (!isJwkSet(json)) throw new FetchFailed('response is not a JWK set');
        });
        return new Response(text, { status: 200, headers: { 'content-type': 'application/json' } });
      },
    });
  }

  #discover(): Promise<RemoteKeySet> {
    this.#discovering ??= (async () => {
      const { json } = await this.#fetch('discovery_fetch', discoveryUrl(this.issuer), AbortSignal.timeout(this.options.timeoutMs), JSON_ACCEPT, (doc) => {
        // OIDC Discovery 1.0 §4.3: the document must name the issuer it was fetched for (mix-up defence)
        if ((doc as { issuer?: unknown } | null)?.issuer !== this.issuer) throw new FetchFailed('discovery document names another issuer');
        if (httpUrl((doc as { jwks_uri?: unknown }).jwks_uri) === undefined) throw new FetchFailed('discovery document has no http(s) jwks_uri');
      });
      const keySet = this.#createKeySet(httpUrl((json as { jwks_uri: string }).jwks_uri)!);
      this.#keySet = keySet;
      return keySet;
    })().finally(() => {
      this.#discovering = undefined;
    });
    return this.#discovering;
  }

  async #fetch(kind: FetchKind, url: string, signal: AbortSignal, headers: Headers | Readonly<Record<string, string>>, validate: (json: unknown) => void) {
    if (Date.now() < this.#failedUntil) throw new KeySourceUnavailable(`${kind === 'jwks_fetch' ? 'JWKS' : 'discovery'} failed moments ago`);
    const started = performance.now();
    try {
      const fetched = await fetchJson(url, { signal, headers, maxBytes: this.options.maxResponseBytes });
      validate(fetched.json);
      this.#emit({ type: kind, issuer: this.issuer, ok: true, durationMs: performance.now() - started });
      return fetched;
    } catch (error) {
      this.#failedUntil = Date.now() + this.options.failureBackoffMs;
      const reason = fetchFailureReason(error);
      this.#emit({ type: kind, issuer: this.issuer, ok: false, durationMs: performance.now() - started, reason });
      throw new KeySourceUnavailable(`${kind === 'jwks_fetch' ? 'JWKS' : 'discovery'} fetch failed: ${reason}`);
    }
  }

  #emit(event: KeyFetchEvent): void {
    try {
      this.observe(event);
    } catch {
      // an observer's bug must not turn into a verdict about a token
    }
  }
}
