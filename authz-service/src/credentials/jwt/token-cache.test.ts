import { expect } from 'chai';
import { BoundedTokenCache, type TokenEntry } from './token-cache.js';

const SIG = 'S'.repeat(40);
const entry = (token: string, expiresAtMs: number): TokenEntry => ({ token, expiresAtMs });

describe('BoundedTokenCache', () => {
  it('forgets an entry at its expiry', () => {
    const cache = new BoundedTokenCache<TokenEntry>(10);
    cache.set(entry('t', 1000));
    expect(cache.get('t', 999)).to.deep.equal(entry('t', 1000));
    expect(cache.get('t', 1000)).to.equal(undefined);
    expect(cache.size).to.equal(0);
  });

  it('answers only for the identical token, not for one that copies the signature', () => {
    const cache = new BoundedTokenCache<TokenEntry>(10);
    cache.set(entry(`header.genuine.${SIG}`, 1000));
    expect(cache.get(`header.genuine.${SIG}`, 0)).not.to.equal(undefined);
    expect(cache.get(`header.forged.${SIG}`, 0)).to.equal(undefined);
    cache.delete(`header.forged.${SIG}`);
    expect(cache.get(`header.genuine.${SIG}`, 0), 'deleting the forgery keeps the genuine entry').not.to.equal(undefined);
  });

  it('evicts the oldest insertion first, and a re-inserted token counts as young', () => {
    const cache = new BoundedTokenCache<TokenEntry>(2);
    cache.set(entry('a', 10));
    cache.set(entry('b', 10));
    cache.set(entry('a', 20));
    cache.set(entry('c', 10));
    expect(cache.get('b', 0)).to.equal(undefined);
    expect(cache.get('a', 0)).to.deep.equal(entry('a', 20));
    expect(cache.get('c', 0)).to.deep.equal(entry('c', 10));
    expect(cache.size).to.equal(2);
  });

  it('stores nothing with room for nothing', () => {
    const cache = new BoundedTokenCache<TokenEntry>(0);
    cache.set(entry('a', 10));
    expect(cache.get('a', 0)).to.equal(undefined);
    expect(() => new BoundedTokenCache(-1)).to.throw(RangeError);
  });
});
