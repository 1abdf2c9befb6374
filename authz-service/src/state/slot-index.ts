/**
 * Open addressing over row numbers, for the compact tables (key ids, consumer ids, key digests): one Int32
 * per slot holding row + 1 (0: empty), linear probing, and backward-shift deletion, so probe chains stay
 * unbroken without tombstones. The owner knows what a row holds: it supplies each row's hash, and a test
 * of whether a row is the one being looked for (a bound method, so lookups allocate nothing).
 */
const EMPTY = 0;
export const NOT_FOUND = -1;

export class SlotIndex {
  #slots: Int32Array;
  readonly #hashOf: (row: number) => number;

  constructor(capacity: number, hashOf: (row: number) => number) {
    this.#slots = new Int32Array(Math.max(16, capacity));
    this.#hashOf = hashOf;
  }

  get capacity(): number {
    return this.#slots.length;
  }

  /** The first row on `hash`'s probe chain that `matches`, or NOT_FOUND. */
  find(hash: number, matches: (row: number) => boolean): number {
    const slots = this.#slots;
    let i = hash % slots.length;
    for (;;) {
      const v = slots[i]!;
      if (v === EMPTY) return NOT_FOUND;
      if (matches(v - 1)) return v - 1;
      i = i + 1 === slots.length ? 0 : i + 1;
    }
  }

  insert(row: number, hash = this.#hashOf(row)): void {
    const slots = this.#slots;
    let i = hash % slots.length;
    while (slots[i] !== EMPTY) i = i + 1 === slots.length ? 0 : i + 1;
    slots[i] = row + 1;
  }

  remove(row: number): void {
    const slots = this.#slots;
    const n = slots.length;
    let i = this.#hashOf(row) % n;
    while (slots[i] !== row + 1) i = i + 1 === n ? 0 : i + 1;
    let j = i;
    for (;;) {
      slots[i] = EMPTY;
      for (;;) {
        j = j + 1 === n ? 0 : j + 1;
        const v = slots[j]!;
        if (v === EMPTY) return;
        const home = this.#hashOf(v - 1) % n;
        // the row at j may move into the hole at i unless its home lies cyclically in (i, j]
        const stays = i <= j ? i < home && home <= j : i < home || home <= j;
        if (!stays) break;
      }
      slots[i] = slots[j]!;
      i = j;
    }
  }

  /** Start over with `capacity` slots holding `rows`. */
  rebuild(capacity: number, rows: Iterable<number>): void {
    this.#slots = new Int32Array(Math.max(16, capacity));
    for (const row of rows) this.insert(row);
  }
}
