/**
 * A set of strings (key ids, consumer ids) numbered 0, 1, 2 … and found by value, in about 40 bytes an
 * entry: the UTF-8 bytes in one pooled buffer, an offset and a length per entry, open addressing (linear
 * probing, backward-shift deletion) on an FNV-1a hash of the bytes. A `Map<string, number>` with its own
 * string objects costs twice that and more, which at a million keys is the difference that matters.
 *
 * Numbers of deleted entries are reused. Bytes of deleted entries stay in the pool until it is compacted,
 * which happens when more than half of it is dead.
 */

const EMPTY = 0;
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
  /** Row + 1; 0 for an empty slot. */
  #slots = new Int32Array(32);
  #scratch = Buffer.alloc(512);

  constructor(expected = 0) {
    if (expected > 0) {
      this.#reserveRows(expected);
      this.#pool = Buffer.alloc(expected * 32);
      this.#rehash(Math.ceil(expected / (MAX_LOAD * 0.75)));
    }
  }

  get size(): number {
    return this.#count;
  }

  /** The number of `id`, or -1. */
  get(id: string): number {
    const n = this.#encode(id);
    return this.#find(this.#scratch, n, this.#hash(this.#scratch, 0, n));
  }

  /** The number of `id`, adding it if new. */
  add(id: string): number {
    const n = this.#encode(id);
    const h = this.#hash(this.#scratch, 0, n);
    const found = this.#find(this.#scratch, n, h);
    if (found >= 0) return found;
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
    if (this.#count > this.#slots.length * MAX_LOAD) this.#rehash(this.#slots.length * 2);
    else this.#place(row, h);
    return row;
  }

  /** Remove by number; its number may be handed out again. */
  delete(row: number): void {
    if (row < 0 || row >= this.#rows || this.#live[row] === 0) return;
    this.#unplace(row);
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

  #find(bytes: Uint8Array, n: number, h: number): number {
    const slots = this.#slots;
    const pool = this.#pool;
    let i = h % slots.length;
    for (;;) {
      const v = slots[i]!;
      if (v === EMPTY) return -1;
      const row = v - 1;
      if (this.#length[row] === n) {
        const at = this.#offset[row]!;
        let same = true;
        for (let b = 0; b < n; b++) {
          if (pool[at + b] !== bytes[b]) {
            same = false;
            break;
          }
        }
        if (same) return row;
      }
      i = i + 1 === slots.length ? 0 : i + 1;
    }
  }

  #place(row: number, h = this.#rowHash(row)): void {
    const slots = this.#slots;
    let i = h % slots.length;
    while (slots[i] !== EMPTY) i = i + 1 === slots.length ? 0 : i + 1;
    slots[i] = row + 1;
  }

  #unplace(row: number): void {
    const slots = this.#slots;
    const n = slots.length;
    let i = this.#rowHash(row) % n;
    while (slots[i] !== row + 1) i = i + 1 === n ? 0 : i + 1;
    let j = i;
    for (;;) {
      slots[i] = EMPTY;
      for (;;) {
        j = j + 1 === n ? 0 : j + 1;
        const v = slots[j]!;
        if (v === EMPTY) return;
        const home = this.#rowHash(v - 1) % n;
        const stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) break;
      }
      slots[i] = slots[j]!;
      i = j;
    }
  }

  #rehash(capacity: number): void {
    this.#slots = new Int32Array(Math.max(32, capacity));
    for (let row = 0; row < this.#rows; row++) if (this.#live[row] === 1) this.#place(row);
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
