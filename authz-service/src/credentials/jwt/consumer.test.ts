import { createHash } from 'node:crypto';
import { expect } from 'chai';
import { autoConsumerId } from './consumer.js';

describe('autoConsumerId', () => {
  it('is oidc_ and 22 base64url characters of SHA-256(issuer NUL subject)', () => {
    const id = autoConsumerId('https://idp.example.com/realms/x', 'u-1');
    expect(id).to.match(/^oidc_[A-Za-z0-9_-]{22}$/);
    const digest = createHash('sha256').update(Buffer.concat([Buffer.from('https://idp.example.com/realms/x'), Buffer.from([0]), Buffer.from('u-1')])).digest();
    expect(Buffer.from(id.slice(5), 'base64url').equals(digest.subarray(0, 16))).to.equal(true);
  });

  it('is deterministic and separates issuer from subject', () => {
    expect(autoConsumerId('https://a', 'bc')).to.equal(autoConsumerId('https://a', 'bc'));
    expect(autoConsumerId('https://a', 'bc')).not.to.equal(autoConsumerId('https://ab', 'c'));
    expect(autoConsumerId('https://a', 'u')).not.to.equal(autoConsumerId('https://b', 'u'));
  });
});
