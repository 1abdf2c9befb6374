/**
 * The `local` provider, for development and single-host installs: data keys are wrapped with AES-256-GCM under
 * a master key from the environment or a file, the encryption context as additional data. The wrapped form is
 * `iv (12) | tag (16) | wrapped key (32)`; the master key id is stored beside it.
 */
import { randomBytes } from 'node:crypto';
import { IV_BYTES, KEY_BYTES, open, seal, TAG_BYTES } from './aead.js';
import { contextAad, type EncryptionContext } from './context.js';
import { SecretError } from './errors.js';
import type { DataKey, KeyWrapProvider, WrappedKey } from './key-wrap.js';
import type { MasterKeyRing } from './master-keys.js';
import { Redacted } from './secret-value.js';

export class LocalKeyWrapProvider extends Redacted implements KeyWrapProvider {
  readonly name = 'local' as const;

  constructor(readonly ring: MasterKeyRing) {
    super();
  }

  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    const plaintext = randomBytes(KEY_BYTES);
    return { ...(await this.wrap(plaintext, context)), plaintext };
  }

  async wrap(plaintext: Buffer, context: EncryptionContext): Promise<WrappedKey> {
    const { iv, tag, ciphertext } = seal(this.ring.current(), plaintext, contextAad(context));
    return { keyId: this.ring.currentId, wrapped: Buffer.concat([iv, tag, ciphertext]) };
  }

  async unwrap(key: WrappedKey, context: EncryptionContext): Promise<Buffer> {
    const master = this.ring.key(key.keyId);
    if (master === undefined) throw new SecretError('key_unavailable', `master key '${key.keyId}' is not configured`);
    const sealed = {
      iv: key.wrapped.subarray(0, IV_BYTES),
      tag: key.wrapped.subarray(IV_BYTES, IV_BYTES + TAG_BYTES),
      ciphertext: key.wrapped.subarray(IV_BYTES + TAG_BYTES),
    };
    const plaintext = open(master, sealed, contextAad(context));
    if (plaintext === undefined || plaintext.length !== KEY_BYTES) {
      plaintext?.fill(0);
      throw new SecretError('undecryptable', `the data key does not authenticate under master key '${key.keyId}' and this context`);
    }
    return plaintext;
  }

  async rewrap(key: WrappedKey, context: EncryptionContext): Promise<WrappedKey | undefined> {
    if (key.keyId === this.ring.currentId) return undefined;
    const plaintext = await this.unwrap(key, context);
    try {
      return await this.wrap(plaintext, context);
    } finally {
      plaintext.fill(0);
    }
  }
}
