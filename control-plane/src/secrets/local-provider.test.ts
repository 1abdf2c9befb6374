import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { encryptionContext } from './context.js';
import { LocalKeyWrapProvider } from './local-provider.js';
import { MasterKeyRing } from './master-keys.js';
import { secretFailure } from '../../../test/harness/secrets.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const ring = (current: string, keys: Record<string, Buffer>) => new MasterKeyRing(current, new Map(Object.entries(keys)));

describe('local key-wrap provider', () => {
  const context = encryptionContext('upstream/svc', 'upstream-credential');

  it('wraps fresh data keys under the current master key and unwraps them under the same context', async () => {
    const provider = new LocalKeyWrapProvider(ring('a', { a: keyA }));
    const dataKey = await provider.generateDataKey(context);
    expect(dataKey.plaintext).to.have.length(32);
    expect(dataKey.keyId).to.equal('a');
    expect(dataKey.wrapped).to.have.length(12 + 16 + 32);
    expect(dataKey.wrapped.includes(dataKey.plaintext)).to.equal(false);
    const back = await provider.unwrap(dataKey, context);
    expect(back.equals(dataKey.plaintext)).to.equal(true);
  });

  it('refuses another context, a tampered wrapping and an unknown master key', async () => {
    const provider = new LocalKeyWrapProvider(ring('a', { a: keyA }));
    const dataKey = await provider.generateDataKey(context);
    const otherPurpose = await secretFailure(provider.unwrap(dataKey, encryptionContext('upstream/svc', 'threescale-token')));
    expect(otherPurpose.reason).to.equal('undecryptable');
    expect(otherPurpose.code).to.equal('internal_error');
    const otherName = await secretFailure(provider.unwrap(dataKey, encryptionContext('upstream/other', 'upstream-credential')));
    expect(otherName.reason).to.equal('undecryptable');
    const tampered = Buffer.from(dataKey.wrapped);
    tampered[tampered.length - 1]! ^= 1;
    expect((await secretFailure(provider.unwrap({ keyId: 'a', wrapped: tampered }, context))).reason).to.equal('undecryptable');
    const unknown = await secretFailure(provider.unwrap({ keyId: 'gone', wrapped: dataKey.wrapped }, context));
    expect(unknown.reason).to.equal('key_unavailable');
    expect(unknown.message).to.include("'gone'");
  });

  it('re-wraps keys under a previous master key and leaves current ones alone', async () => {
    const old = new LocalKeyWrapProvider(ring('a', { a: keyA }));
    const rotated = new LocalKeyWrapProvider(ring('b', { b: keyB, a: keyA }));
    const dataKey = await old.generateDataKey(context);
    const moved = await rotated.rewrap(dataKey, context);
    expect(moved!.keyId).to.equal('b');
    expect(await rotated.rewrap(moved!, context)).to.equal(undefined);
    const onlyB = new LocalKeyWrapProvider(ring('b', { b: keyB }));
    expect((await onlyB.unwrap(moved!, context)).equals(dataKey.plaintext)).to.equal(true);
  });

  it('never prints its master keys', () => {
    const provider = new LocalKeyWrapProvider(ring('a', { a: keyA }));
    const printed = inspect(provider, { depth: 10 }) + JSON.stringify({ provider }) + String(provider);
    expect(printed).to.not.include(keyA.toString('base64'));
    expect(printed).to.include('[redacted]');
  });
});
