/**
 * What a secret is bound to: its name and purpose. The same pair is the KMS EncryptionContext and (canonically
 * encoded) the AES-GCM additional data of both the value and a locally wrapped data key, so a row copied to
 * another name, or read for another purpose, fails authentication instead of decrypting.
 */
import { SecretError } from './errors.js';

export const CONTEXT_PURPOSE_KEY = 'portcullis:purpose';
export const CONTEXT_SECRET_KEY = 'portcullis:secret';

const NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$/;
const PURPOSE = /^[a-z0-9][a-z0-9._:-]{0,63}$/;

export type EncryptionContext = Readonly<Record<string, string>>;

/** Throws SecretError(invalid_input) for a name or purpose outside the allowed shapes. */
export function checkNameAndPurpose(name: string, purpose: string): void {
  const problems: string[] = [];
  if (typeof name !== 'string' || !NAME.test(name)) problems.push('secret names are 1-200 characters of A-Z a-z 0-9 . _ : / @ - starting with a letter or digit');
  if (typeof purpose !== 'string' || !PURPOSE.test(purpose)) problems.push('purposes are 1-64 characters of a-z 0-9 . _ : - starting with a letter or digit');
  if (problems.length > 0) throw new SecretError('invalid_input', problems.join('; '));
}

export function encryptionContext(name: string, purpose: string): EncryptionContext {
  return Object.freeze({ [CONTEXT_PURPOSE_KEY]: purpose, [CONTEXT_SECRET_KEY]: name });
}

/** Unambiguous bytes for a context: JSON of its entries sorted by key. */
export function contextAad(context: EncryptionContext): Buffer {
  const entries = Object.keys(context)
    .sort()
    .map((k) => [k, context[k]]);
  return Buffer.from(JSON.stringify(entries), 'utf8');
}
