import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { decodeDigest, type KeyInput, KeyTable } from './key-table.js';

const digest = () => randomBytes(32);
const b64 = (d: Uint8Array) => Buffer.from(d).toString('base64url');

function key(id: string, overrides: Partial<KeyInput> = {}): KeyInput {
  return { id, consumerId: 'c1', secrets: [{ digest: digest() }], services: [], scopes: ['chat'], limits: [], revoked: false, ...overrides };
}

describe('KeyTable', () => {
  describe('decodeDigest', () => {
    it('decodes the canonical base64url form of 32 bytes and nothing else', () => {
      const bytes = digest();
      const out = new Uint8Array(32);
      expect(decodeDigest(b64(bytes), out)).to.equal(true);
      expect(Buffer.from(out).equals(bytes)).to.equal(true);
      expect(decodeDigest(b64(bytes).slice(1), out), 'too short').to.equal(false);
      expect(decodeDigest(b64(bytes).slice(0, 42) + '+', out), 'not base64url').to.equal(false);
      // the last character carries 2 payload bits; a different low nibble decodes to the same bytes
      const last = b64(bytes).at(-1)!;
      const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
      const sibling = alphabet[alphabet.indexOf(last) | 1]!;
      if (sibling !== last) expect(decodeDigest(b64(bytes).slice(0, 42) + sibling, out), 'non-canonical').to.equal(false);
    });
  });

  it('finds a key by any of its secrets, with the grace end of a superseded one', () => {
    const table = new KeyTable();
    const current = digest();
    const old = digest();
    table.upsert(key('k1', { secrets: [{ digest: current }, { digest: old, notAfterMs: 1_900_000_000_000 }], services: ['llm'], plan: 'gold', expiresAtMs: 2_000_000_000_000 }));
    const entry = table.get(b64(current))!;
    expect(entry.notAfterMs).to.equal(undefined);
    expect(entry.key).to.include({ id: 'k1', consumerId: 'c1', plan: 'gold', expiresAtMs: 2_000_000_000_000, revoked: false });
    expect([...entry.key.services!]).to.deep.equal(['llm']);
    expect([...entry.key.scopes]).to.deep.equal(['chat']);
    expect(table.get(b64(old))!.notAfterMs).to.equal(1_900_000_000_000);
    expect(table.get(b64(old))!.key).to.equal(entry.key);
    expect(table.get(b64(digest()))).to.equal(undefined);
    expect(table.get('not a hash')).to.equal(undefined);
    expect(table.size).to.equal(2);
    expect(table.keyCount).to.equal(1);
  });

  it('keeps an entry object stable until its key changes, then replaces it', () => {
    const table = new KeyTable();
    const d = digest();
    table.upsert(key('k1', { secrets: [{ digest: d }] }));
    const first = table.get(b64(d));
    expect(table.get(b64(d))).to.equal(first);
    table.upsert(key('k1', { secrets: [{ digest: d }], revoked: true }));
    const second = table.get(b64(d))!;
    expect(second).to.not.equal(first);
    expect(second.key.revoked).to.equal(true);
  });

  it('interns what keys share: one Set for the same scopes, one limits array for the same limits', () => {
    const table = new KeyTable();
    const a = digest();
    const b = digest();
    table.upsert(key('k1', { secrets: [{ digest: a }], limits: [{ window: '1m', requests: 5 }] }));
    table.upsert(key('k2', { secrets: [{ digest: b }], limits: [{ window: '1m', requests: 5 }] }));
    const ka = table.get(b64(a))!.key;
    const kb = table.get(b64(b))!.key;
    expect(ka.scopes).to.equal(kb.scopes);
    expect(ka.limits).to.equal(kb.limits);
    expect(ka.limits[0]).to.deep.equal({ window: '1m', requests: 5, windowSeconds: 60 });
    expect(ka.consumerId).to.equal(kb.consumerId);
  });

  it('rotating replaces the secret set: the dropped secret stops resolving', () => {
    const table = new KeyTable();
    const a = digest();
    const b = digest();
    table.upsert(key('k1', { secrets: [{ digest: a }] }));
    table.upsert(key('k1', { secrets: [{ digest: b }] }));
    expect(table.get(b64(a))).to.equal(undefined);
    expect(table.get(b64(b))!.key.id).to.equal('k1');
    expect(table.size).to.equal(1);
  });

  it('moves a secret to the key that now claims it (the newer record wins)', () => {
    const table = new KeyTable();
    const shared = digest();
    const own = digest();
    table.upsert(key('k1', { secrets: [{ digest: shared }, { digest: own }] }));
    table.upsert(key('k2', { secrets: [{ digest: shared }] }));
    expect(table.get(b64(shared))!.key.id).to.equal('k2');
    expect(table.get(b64(own))!.key.id).to.equal('k1');
    expect(table.size).to.equal(2);
  });

  it('deletes keys, and all keys of a deleted consumer', () => {
    const table = new KeyTable();
    const keys = Array.from({ length: 6 }, (_, i) => key(`k${i}`, { consumerId: i % 2 === 0 ? 'even' : 'odd' }));
    for (const k of keys) table.upsert(k);
    expect(table.delete('k1')).to.equal(true);
    expect(table.delete('k1')).to.equal(false);
    expect(table.get(b64(keys[1]!.secrets[0]!.digest))).to.equal(undefined);
    expect(table.deleteConsumerKeys('even')).to.equal(3);
    expect(table.deleteConsumerKeys('nobody')).to.equal(0);
    expect([...table.values()].map((e) => e.key.id).sort()).to.deep.equal(['k3', 'k5']);
    expect(table.keyCount).to.equal(2);
  });

  it('exports every key in the declarative shape, round-trippable', () => {
    const table = new KeyTable();
    const input = key('k1', {
      secrets: [{ digest: digest() }, { digest: digest(), notAfterMs: 1_800_000_000_000 }],
      services: ['a', 'b'],
      plan: 'p',
      limits: [{ window: '1d', requests: 100 }],
      expiresAtMs: 1_900_000_000_000,
      revoked: true,
    });
    table.upsert(input);
    const [out] = [...table.export()];
    expect(out).to.deep.equal({
      ...input,
      secrets: input.secrets.map((s) => (s.notAfterMs === undefined ? { hash: b64(s.digest) } : { hash: b64(s.digest), notAfterMs: s.notAfterMs })),
    });
  });

  it('agrees with a plain Map through thousands of random upserts, rotations and deletes (growth, probing, deletion shifts)', () => {
    const table = new KeyTable();
    const model = new Map<string, { id: string; digests: Buffer[] }>();
    let seed = 42;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let step = 0; step < 20_000; step++) {
      const id = `k${random(3000)}`;
      if (random(4) === 0) {
        table.delete(id);
        model.delete(id);
      } else {
        const digests = Array.from({ length: 1 + random(3) }, () => randomBytes(32));
        table.upsert(key(id, { secrets: digests.map((d) => ({ digest: d })) }));
        model.set(id, { id, digests });
      }
    }
    expect(table.keyCount).to.equal(model.size);
    let secrets = 0;
    for (const { id, digests } of model.values()) {
      for (const d of digests) expect(table.get(b64(d))?.key.id, id).to.equal(id);
      secrets += digests.length;
    }
    expect(table.size).to.equal(secrets);
    expect([...table.keys()].length).to.equal(secrets);
  });
});
