/**
 * Portcullis API key format: `<prefix>_<30 random base62><6 base62 CRC32>`, like GitHub's tokens.
 *
 * - 30 base62 characters from the CSPRNG carry ~178 bits, well above NIST's 112-bit bar for hashing with a
 *   fast function, so keys are stored as HMAC-SHA256 with a server-side pepper and looked up by that hash.
 * - The CRC32 checksum (over prefix and body) lets clients, scanners and this service reject a mistyped or
 *   made-up key offline, before any lookup.
 * - The prefix makes a leaked key recognisable; `_` keeps the whole key selectable with a double click.
 */
import { createHash, createHmac, hash as oneShotHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { crc32 } from 'node:zlib';

const HMAC_BLOCK_BYTES = 64;
const SHA256_BYTES = 32;
/** Room for a presented key after the inner block; a UTF-8 character takes at most 3 bytes per UTF-16 unit. */
const MAX_ONE_SHOT_KEY_BYTES = 768;

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const KEY_RANDOM_LENGTH = 30;
export const KEY_CHECKSUM_LENGTH = 6;
export const KEY_PREFIX = /^[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16}){0,2}$/;
const KEY_SHAPE = /^[a-z][a-z0-9]{0,15}(?:_[a-z0-9]{1,16}){0,2}_[0-9A-Za-z]{36}$/;
export const DEFAULT_KEY_PREFIX = 'pc';
/** How many leading characters of a key are safe to show (prefix plus four random characters). */
export const DISPLAY_RANDOM_CHARS = 4;

/** Digit value per character code, for the characters KEY_SHAPE admits. */
const BASE62_VALUE: readonly number[] = (() => {
  const table = new Array<number>(128).fill(0);
  for (let i = 0; i < BASE62.length; i++) table[BASE62.charCodeAt(i)] = i;
  return table;
})();

function toBase62(value: number, width: number): string {
  let out = '';
  let v = value;
  for (let i = 0; i < width; i++) {
    out = BASE62[v % 62] + out;
    v = Math.floor(v / 62);
  }
  return out;
}

function randomBase62(length: number): string {
  let out = '';
  while (out.length < length) {
    for (const byte of randomBytes(length * 2)) {
      // 248 = 4 * 62: rejecting bytes above it keeps every character equally likely
      if (byte < 248) out += BASE62[byte % 62];
      if (out.length === length) break;
    }
  }
  return out;
}

function checksum(prefix: string, random: string): string {
  return toBase62(crc32(`${prefix}_${random}`), KEY_CHECKSUM_LENGTH);
}

export interface GeneratedKey {
  /** The secret; shown to its owner once and never stored. */
  readonly key: string;
  /** Safe to store and display: the prefix and the first random characters. */
  readonly displayPrefix: string;
}

export function generateApiKey(prefix: string = DEFAULT_KEY_PREFIX): GeneratedKey {
  if (!KEY_PREFIX.test(prefix)) throw new RangeError('invalid key prefix');
  const random = randomBase62(KEY_RANDOM_LENGTH);
  const key = `${prefix}_${random}${checksum(prefix, random)}`;
  return { key, displayPrefix: displayPrefix(key) };
}

export function displayPrefix(key: string): string {
  const cut = key.lastIndexOf('_');
  return key.slice(0, cut + 1 + DISPLAY_RANDOM_CHARS);
}

export type KeyShape =
  /** Our format and the checksum matches. */
  | { readonly kind: 'valid'; readonly prefix: string }
  /** Our format but the checksum is wrong: mistyped, truncated or invented. */
  | { readonly kind: 'bad_checksum'; readonly prefix: string }
  /** Not our format at all. */
  | { readonly kind: 'foreign' };

/** Classify a presented value without touching any store. Runs on every API-key request: no captures, no string building. */
export function inspectApiKey(value: string): KeyShape {
  if (value.length > 128 || !KEY_SHAPE.test(value)) return { kind: 'foreign' };
  const checked = value.length - KEY_CHECKSUM_LENGTH;
  const prefix = value.slice(0, value.lastIndexOf('_'));
  // the checksum covers `<prefix>_<random>`, which is the key without its last six characters
  return fromBase62(value, checked) === crc32(value.slice(0, checked)) ? { kind: 'valid', prefix } : { kind: 'bad_checksum', prefix };
}

/** The number six base62 digits at `start` spell; 62^6 > 2^32, so each CRC32 has exactly one spelling. */
function fromBase62(value: string, start: number): number {
  let n = 0;
  for (let i = start; i < value.length; i++) n = n * 62 + BASE62_VALUE[value.charCodeAt(i)]!;
  return n;
}

/**
 * HMAC-SHA256 of a key under the pepper, base64url. The only form in which a key is ever stored, synced or
 * compared; the pepper lives outside the database (environment, file or KMS), so a database leak alone
 * yields nothing usable.
 */
export class KeyHasher {
  readonly #pepper: Buffer;
  /** RFC 2104's inner block (K ⊕ ipad) followed by room for the key. */
  readonly #inner: Buffer;
  /** RFC 2104's outer block (K ⊕ opad) followed by the 32-byte inner digest. */
  readonly #outer: Buffer;

  constructor(pepper: string | Buffer) {
    const bytes = typeof pepper === 'string' ? Buffer.from(pepper, 'utf8') : Buffer.from(pepper);
    if (bytes.length < 32) throw new RangeError('the key pepper must be at least 32 bytes');
    this.#pepper = bytes;
    // A key longer than the block is hashed first (RFC 2104 §2); shorter ones are zero-padded.
    const block = Buffer.alloc(HMAC_BLOCK_BYTES);
    (bytes.length > HMAC_BLOCK_BYTES ? createHash('sha256').update(bytes).digest() : bytes).copy(block);
    this.#inner = Buffer.alloc(HMAC_BLOCK_BYTES + MAX_ONE_SHOT_KEY_BYTES);
    this.#outer = Buffer.alloc(HMAC_BLOCK_BYTES + SHA256_BYTES);
    for (let i = 0; i < HMAC_BLOCK_BYTES; i++) {
      this.#inner[i] = block[i]! ^ 0x36;
      this.#outer[i] = block[i]! ^ 0x5c;
    }
    block.fill(0);
  }

  /**
   * HMAC-SHA256(pepper, utf8(key)), base64url. Computed as RFC 2104 spells it out, with two one-shot
   * `crypto.hash` calls over buffers prepared once: createHmac builds a native object per call, which made
   * it the largest single cost of an API-key decision (about 2 µs of 7). The construction is checked
   * against createHmac in format.test.ts; anything longer than the scratch buffer takes createHmac.
   */
  hash(key: string): string {
    if (key.length > MAX_ONE_SHOT_KEY_BYTES / 3) return createHmac('sha256', this.#pepper).update(key).digest('base64url');
    const inner = this.#inner;
    const length = inner.write(key, HMAC_BLOCK_BYTES, 'utf8');
    // a hex digest comes back as a plain string, much cheaper than a Buffer from crypto.hash
    const innerDigest = oneShotHash('sha256', inner.subarray(0, HMAC_BLOCK_BYTES + length), 'hex');
    this.#outer.write(innerDigest, HMAC_BLOCK_BYTES, 'hex');
    return oneShotHash('sha256', this.#outer, 'base64url');
  }

  /** Constant-time check that `key` hashes to `storedHash`. */
  matches(key: string, storedHash: string): boolean {
    const a = Buffer.from(this.hash(key), 'base64url');
    const b = Buffer.from(storedHash, 'base64url');
    return a.length === b.length && timingSafeEqual(a, b);
  }

  /** Never let the pepper reach a log line through util.inspect or JSON. */
  toJSON(): string {
    return '[KeyHasher]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[KeyHasher]';
  }
}
