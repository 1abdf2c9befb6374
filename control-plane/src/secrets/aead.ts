/** AES-256-GCM with a random 96-bit IV and a 128-bit tag: the one cipher for values and locally wrapped keys. */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export const KEY_BYTES = 32;
export const IV_BYTES = 12;
export const TAG_BYTES = 16;

export interface Sealed {
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly ciphertext: Buffer;
}

export function seal(key: Buffer, plaintext: Uint8Array, aad: Buffer): Sealed {
  if (key.length !== KEY_BYTES) throw new RangeError('AES-256-GCM needs a 32-byte key');
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return { iv, tag: cipher.getAuthTag(), ciphertext };
}

/** The plaintext, or undefined when authentication fails (wrong key, AAD, IV, tag or ciphertext). */
export function open(key: Buffer, sealed: Sealed, aad: Buffer): Buffer | undefined {
  if (key.length !== KEY_BYTES || sealed.iv.length !== IV_BYTES || sealed.tag.length !== TAG_BYTES) return undefined;
  const decipher = createDecipheriv('aes-256-gcm', key, sealed.iv, { authTagLength: TAG_BYTES });
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.tag);
  // GCM hands out plaintext before the tag is checked; zero it if the check then fails
  const head = decipher.update(sealed.ciphertext);
  try {
    const tail = decipher.final();
    const plaintext = Buffer.concat([head, tail]);
    head.fill(0);
    return plaintext;
  } catch {
    head.fill(0);
    return undefined;
  }
}
