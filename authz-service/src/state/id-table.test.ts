import { expect } from 'chai';
import { IdTable } from './id-table.js';

describe('IdTable', () => {
  it('numbers strings, finds them by value, gives them back, and reuses the numbers of deleted ones', () => {
    const table = new IdTable();
    const a = table.add('key_a');
    const b = table.add('clé-ü-🔑');
    expect(table.add('key_a')).to.equal(a);
    expect(table.get('clé-ü-🔑')).to.equal(b);
    expect(table.text(b)).to.equal('clé-ü-🔑');
    expect(table.get('key_b')).to.equal(-1);
    table.delete(a);
    expect(table.get('key_a')).to.equal(-1);
    expect(table.has(a)).to.equal(false);
    expect(table.add('key_c')).to.equal(a);
    expect([...table.rows()].sort()).to.deep.equal([a, b].sort());
    expect(table.size).to.equal(2);
  });

  it('agrees with a Map through many adds and deletes (growth, probing, deletion shifts, compaction)', () => {
    const table = new IdTable();
    const model = new Map<string, number>();
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let step = 0; step < 30_000; step++) {
      const id = `id-${random(4000)}-${'x'.repeat(random(40))}`;
      if (random(3) === 0) {
        const row = model.get(id);
        if (row !== undefined) table.delete(row);
        model.delete(id);
      } else {
        const row = table.add(id);
        if (model.has(id)) expect(row).to.equal(model.get(id));
        model.set(id, row);
      }
    }
    expect(table.size).to.equal(model.size);
    for (const [id, row] of model) {
      expect(table.get(id), id).to.equal(row);
      expect(table.text(row)).to.equal(id);
    }
  });
});
