import { expect } from 'chai';
import { errors } from 'jose';
import { Rejections, bearerChallenge, verifyFailure } from './errors.js';
import { KeySourceUnavailable } from './key-source.js';

describe('JWT verification failures', () => {
  it('maps jose errors to catalog codes, and says which verdicts may be remembered', () => {
    const cases: [unknown, string, boolean | undefined][] = [
      [new errors.JWTExpired('x', {}, 'exp', 'check_failed'), 'token_expired', true],
      [new errors.JWTClaimValidationFailed('x', {}, 'nbf', 'check_failed'), 'invalid_token', false],
      [new errors.JWTClaimValidationFailed('x', {}, 'aud', 'check_failed'), 'invalid_audience', true],
      [new errors.JWTClaimValidationFailed('x', {}, 'iss', 'check_failed'), 'untrusted_issuer', true],
      [new errors.JWTClaimValidationFailed('x', {}, 'exp', 'missing'), 'invalid_token', true],
      [new errors.JWKSNoMatchingKey(), 'invalid_token', false],
      [new errors.JWSSignatureVerificationFailed(), 'invalid_token', true],
      [new errors.JOSEAlgNotAllowed('x'), 'invalid_token', true],
      [new errors.JWSInvalid('x'), 'invalid_token', true],
      [new TypeError('surprise'), 'invalid_token', false],
    ];
    for (const [error, code, cacheable] of cases) {
      expect(verifyFailure(error), String(error)).to.deep.include({ kind: 'rejected', code, cacheable });
    }
  });

  it('reports missing keys as unavailable, never as a bad token', () => {
    expect(verifyFailure(new KeySourceUnavailable('JWKS fetch failed: HTTP 500')).kind).to.equal('unavailable');
  });

  it('builds an RFC 6750 challenge that cannot be broken out of', () => {
    expect(bearerChallenge('portcullis', 'the access token has expired')).to.equal(
      'Bearer realm="portcullis", error="invalid_token", error_description="the access token has expired"',
    );
    expect(bearerChallenge('a"b', 'x\\"y\r\nz')).to.equal('Bearer realm="a\\"b", error="invalid_token", error_description="x\\\\\\"yz"');
  });

  it('shares one frozen outcome per code and detail, with a challenge on 401s only', () => {
    const rejections = new Rejections('portcullis');
    const expired = rejections.outcome('token_expired', 'the access token has expired');
    expect(rejections.outcome('token_expired', 'the access token has expired')).to.equal(expired);
    expect(Object.isFrozen(expired)).to.equal(true);
    expect(expired.kind === 'rejected' && expired.headers?.[0]?.[0]).to.equal('WWW-Authenticate');
    const forbidden = rejections.outcome('forbidden', 'the consumer is disabled');
    expect(forbidden.kind === 'rejected' && forbidden.headers).to.equal(undefined);
  });
});
