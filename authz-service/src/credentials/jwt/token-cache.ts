/**
 * A bounded map for verified (and definitively rejected) tokens. Insertion order is eviction order: the
 * oldest entry goes first when the map is full. Hits do not reorder, so a hit is one Map lookup and nothing
 * else; a token's entry lives at most until its own expiry anyway, so FIFO evicts almost what LRU would.
 */
export interface Expiring {
  /** Epoch ms from which the entry must no longer be used. */
  readonly expiresAtMs: number;
}

export class BoundedTokenCache<V extends Expiring> {
  readonly #entries = new Map<string, V>();

  constructor(readonly maxEntries: number) {
    if (!Number.isInteger(maxEntries) || maxEntries < 0) throw new RangeError('maxEntries must be a non-negative integer');
  }

  get size(): number {
    return this.#entries.size;
  }

  /** The live entry for `token` at `now`; an expired entry is dropped and reported as absent. */
  get(token: string, now: number): V | undefined {
    const entry = this.#entries.get(token);
    if (entry === undefined) return undefined;
    if (now < entry.expiresAtMs) return entry;
    this.#entries.delete(token);
    return undefined;
  }

  set(token: string, entry: V): void {
    if (this.maxEntries === 0) return;
    // re-inserting moves the token to the young end, so a refreshed entry is not the next one evicted
    this.#entries.delete(token);
    while (this.#entries.size >= this.maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done) break;
      this.#entries.delete(oldest.value);
    }
    this.#entries.set(token, entry);
  }

  delete(token: string): void {
    this.#entries.delete(token);
  }

  clear(): void {
    this.#entries.clear();
  }
}
