/**
 * Resolves an API key to a principal. Keys are read from `X-API-Key`, from `Authorization: Bearer` when the
 * value has our key shape (OpenAI-style clients send keys that way), and from a query parameter only where the
 * service names one (3scale's `user_key`).
 *
 * The same class authenticates control-plane callers: there the lookups go to the database instead of the
 * data plane's in-memory indexes.
 */
import type { Principal } from '../../core/decision.js';
import { andThen, type MaybePromise } from '../../core/maybe-promise.js';
import { queryParam, type NormalizedRequest } from '../../core/request.js';
import type { CompiledService, KeySecretEntry } from '../../state/compile.js';
import type { ConsumerSpec } from '../../state/schema.js';
import { bearerToken, type CredentialLocation, type CredentialResolver, NOT_RESPONSIBLE, type ResolveContext, type ResolveOutcome } from '../resolver.js';
import { inspectApiKey, type KeyHasher } from './format.js';

export interface ApiKeyResolverOptions {
  readonly hasher: KeyHasher;
  /** Default: the compiled state's index. */
  readonly lookupKey?: (hash: string, context: ResolveContext) => MaybePromise<KeySecretEntry | undefined>;
  /** Default: the compiled state's consumers. */
  readonly lookupConsumer?: (id: string, context: ResolveContext) => MaybePromise<ConsumerSpec | undefined>;
}

const API_KEY_HEADER = 'x-api-key';
/** Keys of other systems (3scale's 32-hex user_key) have no checksum; accept plausible ones for lookup. */
const FOREIGN_KEY = /^[A-Za-z0-9_-]{16,128}$/;

const LOCATION_HEADER: CredentialLocation = Object.freeze({ header: API_KEY_HEADER });
const LOCATION_AUTHORIZATION: CredentialLocation = Object.freeze({ header: 'authorization' });

interface Presented {
  readonly value: string;
  readonly location: CredentialLocation;
}

function looksLikeOurKey(value: string): boolean {
  return inspectApiKey(value).kind !== 'foreign';
}

function findKey(request: NormalizedRequest, service: CompiledService): Presented | undefined {
  const header = request.headers[API_KEY_HEADER];
  if (header !== undefined && header !== '') return { value: header.trim(), location: LOCATION_HEADER };
  const bearer = bearerToken(request.headers['authorization']);
  if (bearer !== undefined && looksLikeOurKey(bearer)) return { value: bearer, location: LOCATION_AUTHORIZATION };
  const param = service.spec.query_key;
  if (param !== undefined) {
    const value = queryParam(request.query, param);
    if (value !== undefined && value !== '') return { value, location: { queryParam: param } };
  }
  return undefined;
}

const reject = (code: 'malformed_api_key' | 'unknown_api_key' | 'api_key_revoked' | 'api_key_expired' | 'forbidden', detail: string): ResolveOutcome => ({
  kind: 'rejected',
  code,
  detail,
});

export class ApiKeyResolver implements CredentialResolver {
  readonly type = 'api_key' as const;
  readonly #hasher: KeyHasher;
  readonly #lookupKey: NonNullable<ApiKeyResolverOptions['lookupKey']>;
  readonly #lookupConsumer: NonNullable<ApiKeyResolverOptions['lookupConsumer']>;
  /** Principals are immutable per (secret entry, consumer), both of which are replaced on any change. */
  readonly #principals = new WeakMap<KeySecretEntry, { readonly consumer: ConsumerSpec; readonly principal: Principal }>();

  constructor(options: ApiKeyResolverOptions) {
    this.#hasher = options.hasher;
    this.#lookupKey = options.lookupKey ?? ((hash, context) => context.state.keysByHash.get(hash));
    this.#lookupConsumer = options.lookupConsumer ?? ((id, context) => context.state.consumers.get(id));
  }

  present(request: NormalizedRequest, service: CompiledService): boolean {
    return findKey(request, service) !== undefined;
  }

  /** Synchronous when both lookups are (the data plane's in-memory indexes); the control plane's go to the database. */
  resolve(request: NormalizedRequest, context: ResolveContext): MaybePromise<ResolveOutcome> {
    const presented = findKey(request, context.service);
    if (presented === undefined) return NOT_RESPONSIBLE;
    const shape = inspectApiKey(presented.value);
    if (shape.kind === 'bad_checksum') return reject('malformed_api_key', 'The API key checksum does not match; check for a typo.');
    if (shape.kind === 'foreign' && !FOREIGN_KEY.test(presented.value)) {
      return reject('malformed_api_key', 'The value is not an API key.');
    }
    const entry = this.#lookupKey(this.#hasher.hash(presented.value), context);
    return andThen(entry, (found) => this.#checkKey(found, presented, context));
  }

  #checkKey(entry: KeySecretEntry | undefined, presented: Presented, context: ResolveContext): MaybePromise<ResolveOutcome> {
    if (entry === undefined) return reject('unknown_api_key', 'The API key is not valid.');
    const key = entry.key;
    if (key.revoked) return reject('api_key_revoked', 'The API key has been revoked.');
    if (key.expiresAtMs !== undefined && context.now >= key.expiresAtMs) return reject('api_key_expired', 'The API key has expired.');
    if (entry.notAfterMs !== undefined && context.now >= entry.notAfterMs) {
      return reject('api_key_expired', 'This secret was replaced by a rotation and its grace period has ended.');
    }
    const consumer = this.#lookupConsumer(key.consumerId, context);
    return andThen(consumer, (found) => this.#checkConsumer(entry, found, presented));
  }

  #checkConsumer(entry: KeySecretEntry, consumer: ConsumerSpec | undefined, presented: Presented): ResolveOutcome {
    if (consumer === undefined) return reject('unknown_api_key', 'The API key is not valid.');
    if (consumer.disabled) return reject('forbidden', 'The consumer owning this key is disabled.');
    return { kind: 'resolved', principal: this.#principalFor(entry, consumer), location: presented.location };
  }

  #principalFor(entry: KeySecretEntry, consumer: ConsumerSpec): Principal {
    const cached = this.#principals.get(entry);
    if (cached !== undefined && cached.consumer === consumer) return cached.principal;
    const key = entry.key;
    const validUntil = Math.min(key.expiresAtMs ?? Infinity, entry.notAfterMs ?? Infinity);
    // A consumer linked to exactly one OIDC identity keeps the same subject whichever credential it uses.
    const linked = consumer.subjects.length === 1 ? consumer.subjects[0] : undefined;
    const plan = key.plan ?? consumer.plan;
    const principal: Principal = Object.freeze({
      authMethod: 'api_key',
      subject: linked?.sub ?? consumer.id,
      consumerId: consumer.id,
      name: consumer.name,
      keyId: key.id,
      ...(linked ? { issuer: linked.issuer } : {}),
      scopes: key.scopes,
      roles: new Set<string>(),
      ...(plan !== undefined ? { plan } : {}),
      ...(key.services ? { services: key.services } : {}),
      ...(key.limits.length > 0 ? { keyLimits: key.limits } : {}),
      ...(Number.isFinite(validUntil) ? { validUntilMs: validUntil } : {}),
    });
    this.#principals.set(entry, { consumer, principal });
    return principal;
  }
}
