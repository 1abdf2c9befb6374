/**
 * Envelope-encrypted secrets. Each value gets a fresh AES-256 data key (AES-256-GCM, random 96-bit IV, the
 * name and purpose as additional data); the data key is wrapped by the current KeyWrapProvider under the same
 * name/purpose context and zeroed after use. Rows carry only ciphertext and the wrapped key.
 */
import { contextAad, checkNameAndPurpose, encryptionContext } from './context.js';
import { open, seal } from './aead.js';
import { SecretError } from './errors.js';
import type { KeyWrapProvider } from './key-wrap.js';
import { ProviderSet } from './provider-set.js';
import type { SealedSecret, SecretMetadata, SecretRepository } from './repository.js';
import { rewrapAll, type RewrapOptions, type RewrapReport } from './rewrap.js';
import { Redacted, SecretValue, usingWiped } from './secret-value.js';

export const DEFAULT_MAX_SECRET_BYTES = 64 * 1024;

export interface SecretStore {
  /** Store (or replace) a secret. */
  put(name: string, plaintext: string | Uint8Array, purpose: string): Promise<SecretMetadata>;
  /** Store unless the name exists; true when this call created it (first-start bootstraps race safely). */
  putIfAbsent(name: string, plaintext: string | Uint8Array, purpose: string): Promise<boolean>;
  /** The secret, or undefined when there is none; SecretError when it exists but cannot be opened for `purpose`. */
  get(name: string, purpose: string): Promise<SecretValue | undefined>;
  /** Like get, but a missing secret is SecretError(not_found). */
  require(name: string, purpose: string): Promise<SecretValue>;
  delete(name: string): Promise<boolean>;
  /** Names and metadata only. */
  list(): Promise<SecretMetadata[]>;
  /** Re-wrap every data key under the current key; reads keep working throughout. */
  rewrapAll(options?: RewrapOptions): Promise<RewrapReport>;
}

export interface SecretStoreOptions {
  readonly repository: SecretRepository;
  /** Wraps every new data key, and is where rewrapAll moves old ones. */
  readonly provider: KeyWrapProvider;
  /** Providers of rows written before a provider switch: read and re-wrapped from, never written with. */
  readonly previousProviders?: readonly KeyWrapProvider[];
  readonly maxValueBytes?: number;
}

export class EnvelopeSecretStore extends Redacted implements SecretStore {
  readonly #repository: SecretRepository;
  readonly #providers: ProviderSet;
  readonly #maxValueBytes: number;

  constructor(options: SecretStoreOptions) {
    super();
    this.#repository = options.repository;
    this.#providers = new ProviderSet(options.provider, options.previousProviders);
    this.#maxValueBytes = options.maxValueBytes ?? DEFAULT_MAX_SECRET_BYTES;
  }

  async put(name: string, plaintext: string | Uint8Array, purpose: string): Promise<SecretMetadata> {
    return this.#repository.upsert(await this.#seal(name, plaintext, purpose));
  }

  async putIfAbsent(name: string, plaintext: string | Uint8Array, purpose: string): Promise<boolean> {
    return this.#repository.insertIfAbsent(await this.#seal(name, plaintext, purpose));
  }

  async get(name: string, purpose: string): Promise<SecretValue | undefined> {
    checkNameAndPurpose(name, purpose);
    const row = await this.#repository.find(name);
    if (row === undefined) return undefined;
    const context = encryptionContext(name, purpose);
    const dataKey = await this.#providers.unwrap(row, context, purpose);
    const plaintext = await usingWiped(dataKey, (key) => open(key, row, contextAad(context)));
    if (plaintext === undefined) throw new SecretError('undecryptable', `secret '${name}' does not authenticate for purpose '${purpose}'`);
    return new SecretValue(plaintext);
  }

  async require(name: string, purpose: string): Promise<SecretValue> {
    const value = await this.get(name, purpose);
    if (value === undefined) throw new SecretError('not_found', `no secret named '${name}'`);
    return value;
  }

  async delete(name: string): Promise<boolean> {
    return this.#repository.delete(name);
  }

  async list(): Promise<SecretMetadata[]> {
    return this.#repository.list();
  }

  async rewrapAll(options?: RewrapOptions): Promise<RewrapReport> {
    return rewrapAll(this.#repository, this.#providers, options);
  }

  async #seal(name: string, value: string | Uint8Array, purpose: string): Promise<SealedSecret> {
    checkNameAndPurpose(name, purpose);
    const length = typeof value === 'string' ? Buffer.byteLength(value, 'utf8') : value.length;
    if (length === 0 || length > this.#maxValueBytes) {
      throw new SecretError('invalid_input', `secret values are 1 to ${this.#maxValueBytes} bytes (this one is ${length})`);
    }
    const plaintext = Buffer.from(value);
    const context = encryptionContext(name, purpose);
    try {
      const provider = this.#providers.current;
      const dataKey = await provider.generateDataKey(context);
      const sealed = await usingWiped(dataKey.plaintext, (key) => seal(key, plaintext, contextAad(context)));
      return { name, purpose, provider: provider.name, keyId: dataKey.keyId, wrappedKey: dataKey.wrapped, ...sealed };
    } finally {
      plaintext.fill(0);
    }
  }
}
