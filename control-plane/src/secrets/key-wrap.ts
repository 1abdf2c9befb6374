/**
 * A KeyWrapProvider protects data keys: it mints a fresh one together with its wrapped form, unwraps a stored
 * one, and re-wraps under its current key for rotation. Wrapping is always bound to an EncryptionContext.
 * Plaintext data keys handed out are owned by the caller, who zeroes them after use.
 */
import type { EncryptionContext } from './context.js';

export type KeyWrapProviderName = 'local' | 'aws-kms';

export interface WrappedKey {
  /** Which key wrapped it: a local master key id, or the KMS key ARN. */
  readonly keyId: string;
  readonly wrapped: Buffer;
}

export interface DataKey extends WrappedKey {
  /** 32 bytes; zero with `fill(0)` once used. */
  readonly plaintext: Buffer;
}

export interface KeyWrapProvider {
  readonly name: KeyWrapProviderName;
  /** A fresh AES-256 data key, wrapped under the current key. */
  generateDataKey(context: EncryptionContext): Promise<DataKey>;
  /** The plaintext data key; SecretError when it cannot be unwrapped. */
  unwrap(key: WrappedKey, context: EncryptionContext): Promise<Buffer>;
  /** Wrap an existing data key under the current key (moving rows in from another provider). */
  wrap(plaintext: Buffer, context: EncryptionContext): Promise<WrappedKey>;
  /**
   * Re-wrap a key this provider wrapped under its current key, or undefined when it already is.
   * Providers that can do this without exposing the data key (KMS ReEncrypt) do.
   */
  rewrap(key: WrappedKey, context: EncryptionContext): Promise<WrappedKey | undefined>;
}
