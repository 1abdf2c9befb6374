/**
 * A bounded map for verified (and definitively rejected) tokens. Insertion order is eviction order: the
 * oldest entry goes first when the map is full. Hits do not reorder, so a hit is one Map lookup and one
 * string comparison; a token's entry lives at most until its own expiry anyway, so FIFO evicts almost what
 * LRU would.
 *
 * The map key is the token's last characters (signature bytes), because hashing a whole 1-2 KB token on
 * every request costs more than the rest of a hit. The entry keeps the whole token and a lookup only
 * answers when it is identical: a forged token that copies a signature suffix finds nothing.
 */
export interface TokenEntry {
  /** The whole token this entry is about. */
  readonly token: string;
  /** Epoch ms from which the entry must no longer be used. */
  readonly expiresAtMs: number;
}

/** Enough signature characters that two different genuine tokens never share them. */
const KEY_CHARS = 32;
const keyOf = (token: string) => (token.length > KEY_CHARS ? token.slice(-KEY_CHARS) : token);

export class BoundedTokenCache<V extends TokenEntry> {
  readonly #entries = new Map<string, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a non-negative integer');
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for exactly `token` at `now`; an expired entry is dropped and reported as absent. */
  get(token: string, now: number): V | undefined {
    const key = keyOf(token);
    const entry = this.#entries.get(key);
    if (entry === undefined || entry.token !== token) return undefined;
    if (now < entry.expiresAtMs) return entry;
    this.#entries.delete(key);
    return undefined;
  }

  /** Is exactly this token in the cache, live or expired? (It passed the shape check when it went in.) */
  holds(token: string): boolean {
    return this.#entries.get(keyOf(token))?.token === token;
  }

  set(entry: V): void {
    if (this.maxEntries === 0) return;
    const key = keyOf(entry.token);
    // re-inserting moves the token to the young end, so a refreshed entry is not the next one evicted
    this.#entries.delete(key);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(key, entry);
  }

  delete(token: string): void {
    const key = keyOf(token);
    if (this.#entries.get(key)?.token === token) this.#entries.delete(key);
  }

  clear(): void {
    this.#entries.clear();
  }
}
