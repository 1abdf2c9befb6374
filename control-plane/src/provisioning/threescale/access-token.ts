/**
 * The Admin API access token lives only in the secret store (envelope-encrypted; with KMS, under a key that is
 * not in the database). It is read when needed and held in memory for a short while, so a token changed in
 * the store is picked up without a restart and a KMS round trip is not paid on every call.
 */
import { ProblemError } from '../../problem-error.js';
import { isSecretError } from '../../secrets/errors.js';
import type { SecretStore } from '../../secrets/store.js';

export const ACCESS_TOKEN_PURPOSE = 'threescale-access-token';
export const ACCESS_TOKEN_CACHE_MS = 60_000;

export class AccessTokens {
  readonly #cache = new Map<string, { value: string; until: number }>();

  constructor(
    private readonly store: SecretStore,
    private readonly clock: () => number = Date.now,
    private readonly cacheMs = ACCESS_TOKEN_CACHE_MS,
  ) {}

  /** Seals `value` under `name` (startup import from the environment). */
  async put(name: string, value: string): Promise<void> {
    await this.store.put(name, value, ACCESS_TOKEN_PURPOSE);
    this.#cache.delete(name);
  }

  async get(name: string): Promise<string> {
    const now = this.clock();
    const cached = this.#cache.get(name);
    if (cached && cached.until > now) return cached.value;
    let secret;
    try {
      secret = await this.store.get(name, ACCESS_TOKEN_PURPOSE);
    } catch (error) {
      if (isSecretError(error)) throw new ProblemError(error.code, `the 3scale access token cannot be read from the secret store: ${error.message}`);
      throw error;
    }
    if (secret === undefined) throw new ProblemError('dependency_unavailable', `the 3scale access token "${name}" is not in the secret store`);
    const value = secret.text();
    secret.wipe();
    this.#cache.set(name, { value, until: now + this.cacheMs });
    return value;
  }
}
