/**
 * A set of strings (key ids, consumer ids) numbered 0, 1, 2 … and found by value, in about 40 bytes an
 * entry: the UTF-8 bytes in one pooled buffer, an offset and a length per entry, found through a SlotIndex
 * on an FNV-1a hash of the bytes. A `Map<string, number>` with its own
 * string objects costs twice that and more, which at a million keys is the difference that matters.
 *
 * Numbers of deleted entries are reused. Bytes of deleted entries stay in the pool until it is compacted,
 * which happens when more than half of it is dead.
 */

import { NOT_FOUND, SlotIndex } from './slot-index.js';

const MAX_LOAD = 0.7;
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export class IdTable {
  #pool = Buffer.alloc(1024);
  #poolUsed = 0;
  #deadBytes = 0;
  #offset = new Int32Array(16);
  #length = new Uint16Array(16);
  #live = new Uint8Array(16);
  #rows = 0;
  #count = 0;
  #free: number[] = [];
  readonly #slots: SlotIndex;
  #scratch = Buffer.alloc(512);
  #scratchLength = 0;
  /** Is this row the id in the scratch buffer? Bound once: lookups allocate nothing. */
  readonly #isScratch = (row: number): boolean => {
    const n = this.#scratchLength;
    if (this.#length[row] !== n) return false;
    const pool = this.#pool;
    const scratch = this.#scratch;
    const at = this.#offset[row]!;
    for (let b = 0; b < n; b++) if (pool[at + b] !== scratch[b]) return false;
    return true;
  };

  constructor(expected = 0) {
    this.#slots = new SlotIndex(Math.ceil(expected / (MAX_LOAD * 0.75)), (row) => this.#rowHash(row));
    if (expected > 0) {
      this.#reserveRows(expected);
      this.#pool = Buffer.alloc(expected * 32);
    }
  }

  get size(): number {
    return this.#count;
  }

  /** The number of `id`, or -1. */
  get(id: string): number {
    const n = this.#encode(id);
    const found = this.#slots.find(this.#hash(this.#scratch, 0, n), this.#isScratch);
    return found === NOT_FOUND ? -1 : found;
  }

  /** The number of `id`, adding it if new. */
  add(id: string): number {
    const n = this.#encode(id);
    const h = this.#hash(this.#scratch, 0, n);
    const found = this.#slots.find(h, this.#isScratch);
    if (found !== NOT_FOUND) return found;
    const row = this.#free.pop() ?? this.#rows++;
    this.#reserveRows(row + 1);
    if (this.#poolUsed + n > this.#pool.length) this.#growPool(n);
    // ids are short: a loop beats Buffer.copy's call overhead
    const pool = this.#pool;
    const scratch = this.#scratch;
    for (let b = 0, at = this.#poolUsed; b < n; b++) pool[at + b] = scratch[b]!;
    this.#offset[row] = this.#poolUsed;
    this.#length[row] = n;
    this.#live[row] = 1;
    this.#poolUsed += n;
    this.#count++;
    if (this.#count > this.#slots.capacity * MAX_LOAD) this.#slots.rebuild(this.#slots.capacity * 2, this.rows());
    else this.#slots.insert(row, h);
    return row;
  }

  /** Remove by number; its number may be handed out again. */
  delete(row: number): void {
    if (row < 0 || row >= this.#rows || this.#live[row] === 0) return;
    this.#slots.remove(row);
    this.#live[row] = 0;
    this.#deadBytes += this.#length[row]!;
    this.#count--;
    this.#free.push(row);
    if (this.#deadBytes > 4096 && this.#deadBytes * 2 > this.#poolUsed) this.#compact();
  }

  /** The string with this number (a new string object each time: callers keep what they need). */
  text(row: number): string {
    const at = this.#offset[row]!;
    return this.#pool.toString('utf8', at, at + this.#length[row]!);
  }

  has(row: number): boolean {
    return row >= 0 && row < this.#rows && this.#live[row] === 1;
  }

  /** Every live number. */
  *rows(): Generator<number> {
    for (let row = 0; row < this.#rows; row++) if (this.#live[row] === 1) yield row;
  }

  #encode(id: string): number {
    if (id.length * 3 > this.#scratch.length) this.#scratch = Buffer.alloc(id.length * 3);
    const n = this.#scratch.write(id, 0, 'utf8');
    if (n > 0xffff) throw new RangeError('id too long');
    this.#scratchLength = n;
    return n;
  }

  #hash(bytes: Uint8Array, at: number, n: number): number {
    let h = FNV_OFFSET;
    for (let i = 0; i < n; i++) h = Math.imul(h ^ bytes[at + i]!, FNV_PRIME);
    return h >>> 0;
  }

  #rowHash(row: number): number {
    return this.#hash(this.#pool, this.#offset[row]!, this.#length[row]!);
  }

  #reserveRows(rows: number): void {
    if (rows <= this.#offset.length) return;
    const n = Math.max(rows, Math.ceil(this.#offset.length * 1.5));
    const offset = new Int32Array(n);
    offset.set(this.#offset);
    const length = new Uint16Array(n);
    length.set(this.#length);
    const live = new Uint8Array(n);
    live.set(this.#live);
    this.#offset = offset;
    this.#length = length;
    this.#live = live;
  }

  #growPool(needed: number): void {
    const pool = Buffer.alloc(Math.max(this.#poolUsed + needed, Math.ceil(this.#pool.length * 1.5)));
    this.#pool.copy(pool, 0, 0, this.#poolUsed);
    this.#pool = pool;
  }

  /** Rewrite the pool with live bytes only (offsets change; numbers and hashes do not). */
  #compact(): void {
    const pool = Buffer.alloc(Math.max(1024, this.#poolUsed - this.#deadBytes));
    let used = 0;
    for (let row = 0; row < this.#rows; row++) {
      if (this.#live[row] !== 1) continue;
      const at = this.#offset[row]!;
      const n = this.#length[row]!;
      this.#pool.copy(pool, used, at, at + n);
      this.#offset[row] = used;
      used += n;
    }
    this.#pool = pool;
    this.#poolUsed = used;
    this.#deadBytes = 0;
  }
}
