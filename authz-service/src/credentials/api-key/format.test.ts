import { expect } from 'chai';
import { createHmac, randomBytes } from 'node:crypto';
import { KeyHasher, displayPrefix, generateApiKey, inspectApiKey } from './format.js';

describe('API key format', () => {
  it('generates keys of our shape whose checksum verifies', () => {
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const { key, displayPrefix: shown } = generateApiKey('pc');
      expect(key).to.match(/^pc_[0-9A-Za-z]{36}$/);
      expect(inspectApiKey(key)).to.deep.equal({ kind: 'valid', prefix: 'pc' });
      expect(shown).to.equal(key.slice(0, 7));
      seen.add(key);
    }
    expect(seen.size).to.equal(200);
  });

  it('accepts multi-part prefixes and rejects bad ones', () => {
    const { key } = generateApiKey('pc_live');
    expect(inspectApiKey(key)).to.deep.equal({ kind: 'valid', prefix: 'pc_live' });
    expect(displayPrefix(key)).to.equal(key.slice(0, 'pc_live_'.length + 4));
    expect(() => generateApiKey('Bad')).to.throw(RangeError);
    expect(() => generateApiKey('a_b_c_d')).to.throw(RangeError);
  });

  it('detects every single-character typo through the checksum', () => {
    const { key } = generateApiKey('pc');
    for (let i = 3; i < key.length; i++) {
      const replacement = key[i] === 'a' ? 'b' : 'a';
      const typo = key.slice(0, i) + replacement + key.slice(i + 1);
      expect(inspectApiKey(typo).kind, `position ${i}`).to.equal('bad_checksum');
    }
  });

  it('binds the checksum to the prefix', () => {
    const { key } = generateApiKey('pc');
    expect(inspectApiKey('px' + key.slice(2)).kind).to.equal('bad_checksum');
  });

  it('calls anything else foreign', () => {
    for (const value of ['', 'eyJhbGciOi.x.y', 'pc_short', 'pc_' + 'a'.repeat(37), '4e7b7b09fb75bcb3f72459a336100dab', 'x'.repeat(500)]) {
      expect(inspectApiKey(value).kind, value).to.equal('foreign');
    }
  });

  it('hashes with HMAC-SHA256 under the pepper and compares in constant time', () => {
    const hasher = new KeyHasher('p'.repeat(32));
    const other = new KeyHasher('q'.repeat(32));
    const { key } = generateApiKey();
    const h = hasher.hash(key);
    expect(h).to.match(/^[A-Za-z0-9_-]{43}$/);
    expect(hasher.hash(key)).to.equal(h);
    expect(other.hash(key)).to.not.equal(h);
    expect(hasher.matches(key, h)).to.equal(true);
    expect(hasher.matches(key + 'x', h)).to.equal(false);
    expect(hasher.matches(key, 'short')).to.equal(false);
  });

  it('is exactly HMAC-SHA256 (RFC 2104) for any pepper and any key, including ones the one-shot path cannot hold', () => {
    const peppers: (string | Buffer)[] = ['p'.repeat(32), 'a pepper of exactly sixty-four bytes, padded out to the block!!!', 'x'.repeat(65), randomBytes(32), randomBytes(200)];
    const keys = [
      generateApiKey().key,
      '',
      'ÅNGSTRÖM-ключ-🔑',
      '\ud800 lone surrogate',
      'k'.repeat(256),
      'k'.repeat(257),
      'é'.repeat(300),
      ...Array.from({ length: 200 }, (_, i) => randomBytes(i % 97).toString('latin1')),
    ];
    for (const pepper of peppers) {
      const hasher = new KeyHasher(pepper);
      for (const key of keys) {
        expect(hasher.hash(key), `pepper of ${pepper.length} bytes, key of ${key.length} units`).to.equal(createHmac('sha256', pepper).update(key).digest('base64url'));
      }
    }
  });

  it('refuses a short pepper and never prints it', () => {
    expect(() => new KeyHasher('short')).to.throw(RangeError);
    const hasher = new KeyHasher('secret-pepper-'.repeat(4));
    expect(JSON.stringify({ hasher })).to.not.include('secret-pepper');
    expect(String(require_inspect(hasher))).to.not.include('secret-pepper');
  });
});

import { inspect } from 'node:util';
function require_inspect(value: unknown): string {
  return inspect(value, { showHidden: true, depth: 5 });
}
