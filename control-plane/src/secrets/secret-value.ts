/**
 * Holders of secret bytes. Anything that keeps a plaintext in a field prints a placeholder through JSON,
 * util.inspect and string conversion, so an accidental `log.info({ value })` leaks nothing.
 */
import { inspect } from 'node:util';

export const REDACTED = '[redacted]';

/** Give a class the placeholder representations; the class keeps its secret in a #private field. */
export abstract class Redacted {
  toJSON(): string {
    return REDACTED;
  }

  toString(): string {
    return REDACTED;
  }

  [inspect.custom](): string {
    return `${this.constructor.name} ${REDACTED}`;
  }
}

/** A decrypted secret. Copy out what you need; `wipe()` zeroes the held bytes once done. */
export class SecretValue extends Redacted {
  readonly #bytes: Buffer;

  constructor(bytes: Buffer) {
    super();
    this.#bytes = bytes;
  }

  /** A copy of the bytes (the caller may zero it). */
  bytes(): Buffer {
    return Buffer.from(this.#bytes);
  }

  /** The value as UTF-8 text (for tokens and passwords; strings cannot be zeroed). */
  text(): string {
    return this.#bytes.toString('utf8');
  }

  get length(): number {
    return this.#bytes.length;
  }

  wipe(): void {
    this.#bytes.fill(0);
  }
}

/** Run `use` with a buffer and zero it afterwards, whatever happens. */
export async function usingWiped<T>(bytes: Buffer, use: (bytes: Buffer) => Promise<T> | T): Promise<T> {
  try {
    return await use(bytes);
  } finally {
    bytes.fill(0);
  }
}
