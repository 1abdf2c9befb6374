/**
 * The providers a store can open rows with: the current one (which wraps everything new) and any previous
 * ones kept so rows from before a provider switch stay readable until re-wrapped.
 */
import type { EncryptionContext } from './context.js';
import { SecretError, isSecretError } from './errors.js';
import type { KeyWrapProvider } from './key-wrap.js';
import type { SealedSecret } from './repository.js';

export class ProviderSet {
  readonly #byName: ReadonlyMap<string, KeyWrapProvider>;

  constructor(
    readonly current: KeyWrapProvider,
    previous: readonly KeyWrapProvider[] = [],
  ) {
    const byName = new Map<string, KeyWrapProvider>();
    for (const p of previous) byName.set(p.name, p);
    byName.set(current.name, current);
    this.#byName = byName;
  }

  providerOf(row: SealedSecret): KeyWrapProvider {
    const provider = this.#byName.get(row.provider);
    if (provider === undefined) throw new SecretError('key_unavailable', `secret '${row.name}' was wrapped by provider '${row.provider}', which is not configured`);
    return provider;
  }

  /** The row's plaintext data key (caller zeroes it), unwrapped under `context`. */
  async unwrap(row: SealedSecret, context: EncryptionContext, purpose: string): Promise<Buffer> {
    try {
      return await this.providerOf(row).unwrap({ keyId: row.keyId, wrapped: row.wrappedKey }, context);
    } catch (error) {
      if (!isSecretError(error, 'undecryptable')) throw error;
      throw new SecretError('undecryptable', `secret '${row.name}' does not decrypt for purpose '${purpose}': ${error.message}`, error.details);
    }
  }
}
