/**
 * The key index of a synced replica: a million keys in well under 100 MB, patched in place one key at a time.
 *
 * A Map of per-key objects costs about 260 bytes a key (a 43-character hash string, an id string, a record
 * with its own fields, two Map entries). Here every key is a row in typed-array columns numbered by an
 * IdTable of key ids, and a secret is its 32-byte HMAC digest in one flat buffer, found by open addressing
 * (linear probing, backward-shift deletion) on the digest's first four bytes — HMAC output is uniform, so
 * they are as good a hash as any. What many keys share (consumer ids; scope, service and limit sets) is
 * interned once.
 *
 * Readers see the `ReadonlyMap<hash, KeySecretEntry>` the decision core expects; entry objects are built on
 * first lookup and kept, so the resolver's per-entry principal cache keeps working, until the key changes.
 */
import type { CompiledKey, CompiledLimit, KeySecretEntry } from './compile.js';
import { IdTable } from './id-table.js';
import type { LimitSpec } from './schema.js';
import { windowSeconds } from './schema.js';

export const DIGEST_BYTES = 32;

export interface SecretInput {
  /** HMAC-SHA256(pepper, key): the raw 32 bytes. */
  readonly digest: Uint8Array;
  /** Epoch ms after which this secret stops working (superseded by a rotation). */
  readonly notAfterMs?: number;
}

/** One key as the table takes it, whichever wire it came over (sync protocol, snapshot file). */
export interface KeyInput {
  readonly id: string;
  readonly consumerId: string;
  readonly secrets: readonly SecretInput[];
  readonly services: readonly string[];
  readonly scopes: readonly string[];
  readonly plan?: string;
  readonly limits: readonly LimitSpec[];
  readonly expiresAtMs?: number;
  readonly revoked: boolean;
}

/** A key read back out, in the declarative shape (hashes base64url): what a snapshot file stores. */
export interface KeyOutput extends Omit<KeyInput, 'secrets'> {
  readonly secrets: readonly { readonly hash: string; readonly notAfterMs?: number }[];
}

interface Profile {
  readonly services: readonly string[];
  readonly scopes: readonly string[];
  readonly plan?: string;
  readonly limits: readonly LimitSpec[];
  readonly serviceSet?: ReadonlySet<string>;
  readonly scopeSet: ReadonlySet<string>;
  readonly compiledLimits: readonly CompiledLimit[];
}

const NONE = -1;
const REVOKED = 1;
/** Above this many materialised entries the cache starts over (a scan of every key must not pin them all). */
const MAX_MATERIALISED = 200_000;
const MAX_LOAD = 0.7;

const BASE64URL = (() => {
  const table = new Int8Array(128).fill(-1);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  for (let i = 0; i < alphabet.length; i++) table[alphabet.charCodeAt(i)] = i;
  return table;
})();

/**
 * Decode the canonical 43-character base64url form of a 32-byte digest into `out` at `offset`, without
 * allocating (this runs on every API-key request). False for anything else, including non-canonical forms.
 */
export function decodeDigest(text: string, out: Uint8Array, offset = 0): boolean {
  if (text.length !== 43) return false;
  let acc = 0;
  let bits = 0;
  let o = offset;
  for (let i = 0; i < 43; i++) {
    const c = text.charCodeAt(i);
    const v = c < 128 ? BASE64URL[c]! : -1;
    if (v < 0) return false;
    acc = (acc << 6) | v;
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out[o++] = (acc >>> bits) & 0xff;
      acc &= (1 << bits) - 1;
    }
  }
  return acc === 0;
}

function grow<T extends Int32Array | Float64Array | Uint8Array>(array: T, length: number, fill?: number): T {
  const next = new (array.constructor as new (n: number) => T)(length);
  next.set(array);
  if (fill !== undefined) next.fill(fill, array.length);
  return next;
}

export class KeyTable implements ReadonlyMap<string, KeySecretEntry> {
  // ── keys: one row per key, numbered by their ids ────────────────────────────
  readonly #ids: IdTable;
  #consumerOf = new Int32Array(0);
  #profileOf = new Int32Array(0);
  #expiresAt = new Float64Array(0);
  #flags = new Uint8Array(0);
  #firstSecret = new Int32Array(0);

  // ── secrets: one row per secret, chained per key ────────────────────────────
  #digests = new Uint8Array(0);
  #secretKey = new Int32Array(0);
  #nextSecret = new Int32Array(0);
  #notAfter = new Float64Array(0);
  #freeSecrets: number[] = [];
  #secretRows = 0;
  #secretCount = 0;

  /** Open addressing: secret row + 1, 0 for an empty slot. */
  #slots = new Int32Array(16);

  // ── interned values ─────────────────────────────────────────────────────────
  readonly #consumerIds: IdTable;
  readonly #profiles: Profile[] = [];
  readonly #profileIndex = new Map<string, number>();

  // ── materialised entries, by secret row ─────────────────────────────────────
  readonly #entries = new Map<number, KeySecretEntry>();
  readonly #keys = new Map<number, CompiledKey>();

  readonly #scratch = new Uint8Array(DIGEST_BYTES);

  /** The counts size the columns up front (a snapshot announces them), sparing regrowth. */
  constructor(expectedKeys = 0, expectedConsumers = 0) {
    this.#ids = new IdTable(expectedKeys);
    this.#consumerIds = new IdTable(expectedConsumers);
    if (expectedKeys > 0) {
      this.#reserve(expectedKeys, expectedKeys);
      this.#rehash(Math.ceil(expectedKeys / (MAX_LOAD * 0.75)));
    }
  }

  /** Secrets (hash → entry pairs), as a Map counts them. */
  get size(): number {
    return this.#secretCount;
  }

  get keyCount(): number {
    return this.#ids.size;
  }

  // ── ReadonlyMap ─────────────────────────────────────────────────────────────

  get(hash: string): KeySecretEntry | undefined {
    if (!decodeDigest(hash, this.#scratch)) return undefined;
    const row = this.#find(this.#scratch, 0);
    return row === NONE ? undefined : this.#entry(row);
  }

  has(hash: string): boolean {
    return decodeDigest(hash, this.#scratch) && this.#find(this.#scratch, 0) !== NONE;
  }

  *entries(): MapIterator<[string, KeySecretEntry]> {
    for (const k of this.#ids.rows()) {
      const key = this.#compiledKey(k, false);
      for (let s = this.#firstSecret[k]!; s !== NONE; s = this.#nextSecret[s]!) yield [this.#hashOf(s), this.#newEntry(key, s)];
    }
  }

  *keys(): MapIterator<string> {
    for (const [hash] of this.entries()) yield hash;
  }

  *values(): MapIterator<KeySecretEntry> {
    for (const [, entry] of this.entries()) yield entry;
  }

  [Symbol.iterator](): MapIterator<[string, KeySecretEntry]> {
    return this.entries();
  }

  forEach(callback: (value: KeySecretEntry, key: string, map: ReadonlyMap<string, KeySecretEntry>) => void, thisArg?: unknown): void {
    for (const [hash, entry] of this.entries()) callback.call(thisArg, entry, hash, this);
  }

  // ── changes ─────────────────────────────────────────────────────────────────

  /**
   * Insert or replace a key with all its secrets. A secret already held by another key moves to this one:
   * hashes are unique in the control plane, so the other key's record is simply older than this one.
   */
  upsert(input: KeyInput): void {
    const known = this.#ids.size;
    const k = this.#ids.add(input.id);
    if (this.#ids.size > known) {
      this.#reserve(k + 1, 0);
      this.#firstSecret[k] = NONE;
    } else {
      this.#dropSecrets(k);
      this.#forget(k);
    }
    this.#consumerOf[k] = this.#consumerIds.add(input.consumerId);
    this.#profileOf[k] = this.#internProfile(input);
    this.#expiresAt[k] = input.expiresAtMs ?? Number.NaN;
    this.#flags[k] = input.revoked ? REVOKED : 0;
    for (let i = input.secrets.length - 1; i >= 0; i--) this.#addSecret(k, input.secrets[i]!);
  }

  /** True when the key was there. */
  delete(id: string): boolean {
    const k = this.#ids.get(id);
    if (k < 0) return false;
    this.#remove(k);
    return true;
  }

  /** Remove every key of a consumer (its keys went with it in the control plane); returns how many. */
  deleteConsumerKeys(consumerId: string): number {
    const c = this.#consumerIds.get(consumerId);
    if (c < 0) return 0;
    const doomed: number[] = [];
    for (const k of this.#ids.rows()) if (this.#consumerOf[k] === c) doomed.push(k);
    for (const k of doomed) this.#remove(k);
    this.#consumerIds.delete(c);
    return doomed.length;
  }

  #remove(k: number): void {
    this.#dropSecrets(k);
    this.#forget(k);
    this.#ids.delete(k);
  }

  /** Every key in the declarative shape, for a snapshot file. Builds nothing that stays. */
  *export(): Generator<KeyOutput> {
    for (const k of this.#ids.rows()) {
      const id = this.#ids.text(k);
      const profile = this.#profiles[this.#profileOf[k]!]!;
      const secrets: { hash: string; notAfterMs?: number }[] = [];
      for (let s = this.#firstSecret[k]!; s !== NONE; s = this.#nextSecret[s]!) {
        const notAfter = this.#notAfter[s]!;
        secrets.push(Number.isNaN(notAfter) ? { hash: this.#hashOf(s) } : { hash: this.#hashOf(s), notAfterMs: notAfter });
      }
      const expires = this.#expiresAt[k]!;
      yield {
        id,
        consumerId: this.#consumerIds.text(this.#consumerOf[k]!),
        secrets,
        services: profile.services,
        scopes: profile.scopes,
        ...(profile.plan !== undefined ? { plan: profile.plan } : {}),
        limits: profile.limits,
        ...(Number.isNaN(expires) ? {} : { expiresAtMs: expires }),
        revoked: (this.#flags[k]! & REVOKED) !== 0,
      };
    }
  }

  // ── internals ───────────────────────────────────────────────────────────────

  #reserve(keys: number, secrets: number): void {
    if (keys > this.#firstSecret.length) {
      const n = Math.max(16, Math.ceil(this.#firstSecret.length * 1.5), keys);
      this.#consumerOf = grow(this.#consumerOf, n);
      this.#profileOf = grow(this.#profileOf, n);
      this.#expiresAt = grow(this.#expiresAt, n, Number.NaN);
      this.#flags = grow(this.#flags, n);
      this.#firstSecret = grow(this.#firstSecret, n, NONE);
    }
    if (secrets > this.#secretKey.length) {
      const n = Math.max(16, Math.ceil(this.#secretKey.length * 1.5), secrets);
      this.#digests = grow(this.#digests, n * DIGEST_BYTES);
      this.#secretKey = grow(this.#secretKey, n, NONE);
      this.#nextSecret = grow(this.#nextSecret, n, NONE);
      this.#notAfter = grow(this.#notAfter, n, Number.NaN);
    }
  }

  #allocateSecret(): number {
    const free = this.#freeSecrets.pop();
    if (free !== undefined) return free;
    const s = this.#secretRows++;
    this.#reserve(0, s + 1);
    return s;
  }

  #addSecret(k: number, secret: SecretInput): void {
    if (secret.digest.length !== DIGEST_BYTES) throw new RangeError('a key digest is 32 bytes');
    const existing = this.#find(secret.digest, 0);
    if (existing !== NONE) this.#removeSecret(existing);
    if (this.#secretCount + 1 > this.#slots.length * MAX_LOAD) this.#rehash(this.#slots.length * 2);
    const s = this.#allocateSecret();
    this.#digests.set(secret.digest, s * DIGEST_BYTES);
    this.#secretKey[s] = k;
    this.#notAfter[s] = secret.notAfterMs ?? Number.NaN;
    this.#nextSecret[s] = this.#firstSecret[k]!;
    this.#firstSecret[k] = s;
    this.#place(s);
    this.#secretCount++;
  }

  #dropSecrets(k: number): void {
    while (this.#firstSecret[k] !== NONE) this.#removeSecret(this.#firstSecret[k]!);
  }

  /** Unlink one secret from its key's chain and from the slots. */
  #removeSecret(s: number): void {
    const k = this.#secretKey[s]!;
    if (this.#firstSecret[k] === s) this.#firstSecret[k] = this.#nextSecret[s]!;
    else {
      let p = this.#firstSecret[k]!;
      while (this.#nextSecret[p] !== s) p = this.#nextSecret[p]!;
      this.#nextSecret[p] = this.#nextSecret[s]!;
    }
    this.#unplace(s);
    this.#entries.delete(s);
    this.#keys.delete(k);
    this.#secretKey[s] = NONE;
    this.#nextSecret[s] = NONE;
    this.#freeSecrets.push(s);
    this.#secretCount--;
  }

  #forget(k: number): void {
    this.#keys.delete(k);
    for (let s = this.#firstSecret[k]!; s !== NONE; s = this.#nextSecret[s]!) this.#entries.delete(s);
  }

  #home(digest: Uint8Array, offset: number): number {
    const h = (digest[offset]! | (digest[offset + 1]! << 8) | (digest[offset + 2]! << 16) | (digest[offset + 3]! << 24)) >>> 0;
    return h % this.#slots.length;
  }

  /** The secret row holding this digest, or NONE. */
  #find(digest: Uint8Array, offset: number): number {
    const slots = this.#slots;
    const digests = this.#digests;
    let i = this.#home(digest, offset);
    for (;;) {
      const v = slots[i]!;
      if (v === 0) return NONE;
      const at = (v - 1) * DIGEST_BYTES;
      let same = true;
      for (let b = 0; b < DIGEST_BYTES; b++) {
        if (digests[at + b] !== digest[offset + b]) {
          same = false;
          break;
        }
      }
      if (same) return v - 1;
      i = i + 1 === slots.length ? 0 : i + 1;
    }
  }

  #place(s: number): void {
    const slots = this.#slots;
    let i = this.#home(this.#digests, s * DIGEST_BYTES);
    while (slots[i] !== 0) i = i + 1 === slots.length ? 0 : i + 1;
    slots[i] = s + 1;
  }

  /** Backward-shift deletion keeps every probe chain unbroken without tombstones. */
  #unplace(s: number): void {
    const slots = this.#slots;
    const n = slots.length;
    let i = this.#home(this.#digests, s * DIGEST_BYTES);
    while (slots[i] !== s + 1) i = i + 1 === n ? 0 : i + 1;
    let j = i;
    for (;;) {
      slots[i] = 0;
      for (;;) {
        j = j + 1 === n ? 0 : j + 1;
        const v = slots[j]!;
        if (v === 0) return;
        const home = this.#home(this.#digests, (v - 1) * DIGEST_BYTES);
        // the entry at j may move into the hole at i unless its home lies cyclically in (i, j]
        const stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) break;
      }
      slots[i] = slots[j]!;
      i = j;
    }
  }

  #rehash(capacity: number): void {
    this.#slots = new Int32Array(Math.max(16, capacity));
    for (let s = 0; s < this.#secretRows; s++) if (this.#secretKey[s] !== NONE) this.#place(s);
  }

  #internProfile(input: KeyInput): number {
    let signature = input.plan ?? '';
    for (const s of input.services) signature += `\u0001${s}`;
    signature += '\u0002';
    for (const s of input.scopes) signature += `\u0001${s}`;
    signature += '\u0002';
    for (const l of input.limits) signature += `\u0001${l.window}:${l.requests}`;
    let p = this.#profileIndex.get(signature);
    if (p === undefined) {
      p = this.#profiles.length;
      const services = Object.freeze([...input.services]);
      this.#profiles.push(
        Object.freeze({
          services,
          scopes: Object.freeze([...input.scopes]),
          ...(input.plan !== undefined ? { plan: input.plan } : {}),
          limits: Object.freeze(input.limits.map((l) => Object.freeze({ window: l.window, requests: l.requests }))),
          ...(services.length > 0 ? { serviceSet: new Set(services) } : {}),
          scopeSet: new Set(input.scopes),
          compiledLimits: Object.freeze(input.limits.map((l) => Object.freeze({ window: l.window, requests: l.requests, windowSeconds: windowSeconds(l.window) }))),
        }),
      );
      this.#profileIndex.set(signature, p);
    }
    return p;
  }

  #compiledKey(k: number, cache: boolean): CompiledKey {
    const cached = this.#keys.get(k);
    if (cached !== undefined) return cached;
    const profile = this.#profiles[this.#profileOf[k]!]!;
    const expires = this.#expiresAt[k]!;
    const key: CompiledKey = Object.freeze({
      id: this.#ids.text(k),
      consumerId: this.#consumerIds.text(this.#consumerOf[k]!),
      ...(profile.serviceSet !== undefined ? { services: profile.serviceSet } : {}),
      scopes: profile.scopeSet,
      ...(profile.plan !== undefined ? { plan: profile.plan } : {}),
      limits: profile.compiledLimits,
      ...(Number.isNaN(expires) ? {} : { expiresAtMs: expires }),
      revoked: (this.#flags[k]! & REVOKED) !== 0,
    });
    if (cache) this.#keys.set(k, key);
    return key;
  }

  #newEntry(key: CompiledKey, s: number): KeySecretEntry {
    const notAfterMs = this.#notAfter[s]!;
    return Object.freeze(Number.isNaN(notAfterMs) ? { key } : { key, notAfterMs });
  }

  #entry(s: number): KeySecretEntry {
    const cached = this.#entries.get(s);
    if (cached !== undefined) return cached;
    if (this.#entries.size >= MAX_MATERIALISED) {
      this.#entries.clear();
      this.#keys.clear();
    }
    const entry = this.#newEntry(this.#compiledKey(this.#secretKey[s]!, true), s);
    this.#entries.set(s, entry);
    return entry;
  }

  #hashOf(s: number): string {
    return Buffer.from(this.#digests.buffer, this.#digests.byteOffset + s * DIGEST_BYTES, DIGEST_BYTES).toString('base64url');
  }
}
