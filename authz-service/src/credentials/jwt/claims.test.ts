import { expect } from 'chai';
import { IssuerSchema } from '../../state/schema.js';
import { audienceAccepted, headerTypeAccepted, identityOf, isNonAccessToken, rolesOf, scopesOf } from './claims.js';

const spec = (extra: object = {}) => IssuerSchema.parse({ issuer: 'https://idp.example.com/realms/x', ...extra });

describe('JWT claims', () => {
  it('accepts header typ absent, JWT and at+jwt in any case, with or without application/', () => {
    for (const typ of [undefined, 'JWT', 'jwt', 'at+jwt', 'AT+JWT', 'application/at+jwt', 'application/jwt']) expect(headerTypeAccepted({ typ }), String(typ)).to.equal(true);
    for (const typ of ['dpop+jwt', 'JWE', '', 'application/', 7]) expect(headerTypeAccepted({ typ: typ as string }), String(typ)).to.equal(false);
  });

  it('tells Keycloak ID, refresh, offline and logout tokens from access tokens', () => {
    for (const typ of ['ID', 'Refresh', 'Offline', 'Logout']) expect(isNonAccessToken({ typ }), typ).to.equal(true);
    for (const typ of [undefined, 'Bearer', 42]) expect(isNonAccessToken({ typ }), String(typ)).to.equal(false);
  });

  it('applies the audience policy: any, aud only, azp only, or either', () => {
    expect(audienceAccepted({}, spec())).to.equal(true);
    const aud = spec({ audiences: ['mlaas'] });
    expect(audienceAccepted({ aud: 'mlaas' }, aud)).to.equal(true);
    expect(audienceAccepted({ aud: ['account', 'mlaas'] }, aud)).to.equal(true);
    expect(audienceAccepted({ aud: 'account', azp: 'mlaas' }, aud), 'azp does not count without authorized_parties').to.equal(false);
    expect(audienceAccepted({}, aud)).to.equal(false);
    const azp = spec({ authorized_parties: ['cli'] });
    expect(audienceAccepted({ azp: 'cli' }, azp)).to.equal(true);
    expect(audienceAccepted({ aud: 'cli' }, azp), 'aud does not count without audiences').to.equal(false);
    const either = spec({ audiences: ['mlaas'], authorized_parties: ['cli'] });
    expect(audienceAccepted({ aud: 'account', azp: 'cli' }, either)).to.equal(true);
    expect(audienceAccepted({ aud: 'mlaas', azp: 'web' }, either)).to.equal(true);
    expect(audienceAccepted({ aud: 'account', azp: 'web' }, either)).to.equal(false);
  });

  it('reads scopes from a space-separated string or an array of strings', () => {
    expect([...scopesOf('openid  profile email')]).to.deep.equal(['openid', 'profile', 'email']);
    expect([...scopesOf(['a', 'b', 3, '', null])]).to.deep.equal(['a', 'b']);
    expect([...scopesOf(undefined)]).to.deep.equal([]);
    expect([...scopesOf({ a: 1 })]).to.deep.equal([]);
  });

  it('collects realm roles, plain roles of role clients and every client role qualified', () => {
    const payload = {
      realm_access: { roles: ['user', 5] },
      resource_access: { api: { roles: ['predict'] }, account: { roles: ['view-profile'] }, broken: { roles: 'admin' } },
    };
    expect([...rolesOf(payload, ['api'])]).to.have.members(['user', 'api:predict', 'account:view-profile', 'predict']);
  });

  it('never reads roles from the object prototype', () => {
    const payload = JSON.parse('{"resource_access":{"__proto__":{"roles":["x"]}},"realm_access":{}}');
    expect([...rolesOf(payload, ['constructor', 'toString', '__proto__'])]).to.deep.equal(['__proto__:x', 'x']);
    expect([...rolesOf({ realm_access: [] }, ['constructor'])]).to.deep.equal([]);
  });

  it('derives an identity only when the subject claim is a non-empty string', () => {
    const s = spec({ claims: { subject: 'oid', name: 'email' } });
    const identity = identityOf({ oid: 'o-1', email: 'a@b', exp: 100, scope: 'x y' }, s);
    expect(identity).to.deep.include({ issuer: 'https://idp.example.com/realms/x', subject: 'o-1', name: 'a@b', validUntilMs: 100_000 });
    expect(identityOf({ sub: 'not-the-configured-claim', exp: 100 }, s)).to.equal(undefined);
    expect(identityOf({ oid: 7, exp: 100 }, s)).to.equal(undefined);
    expect(identityOf({ sub: 'u', exp: 100, constructor: 'x' }, spec())?.name).to.equal(undefined);
  });
});
