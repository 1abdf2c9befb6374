import { expect } from 'chai';
import { SignJWT, UnsecuredJWT, createRemoteJWKSet, errors, generateKeyPair, importSPKI, jwtVerify } from 'jose';
import { TestIssuer } from '../../../../test/harness/oidc.js';
import { freePort } from '../../../../test/harness/ports.js';
import type { Principal } from '../../core/decision.js';
import type { NormalizedRequest } from '../../core/request.js';
import { type CompiledState, compileState } from '../../state/compile.js';
import type { StateInput } from '../../state/schema.js';
import type { ResolveOutcome } from '../resolver.js';
import { autoConsumerId } from './consumer.js';
import { JwtResolver, type JwtResolverOptions } from './resolver.js';
import type { JwtResolverEvent } from './stats.js';

const ALICE = 'f3a1c2d4-0000-4000-8000-000000000001';
const BOB = 'f3a1c2d4-0000-4000-8000-000000000002';
const CAROL = 'f3a1c2d4-0000-4000-8000-000000000003';

type IssuerInput = NonNullable<StateInput['issuers']>[number];

/** A state with one service, the issuer(s) given, alice linked (plan pro) and bob linked but disabled. */
function stateWith(issuers: IssuerInput[], extra: Partial<StateInput> = {}): CompiledState {
  const issuer = issuers[0]!.issuer;
  const result = compileState({
    plans: [{ name: 'pro', limits: [{ window: '1s', requests: 100 }] }, { name: 'auto', limits: [] }],
    issuers,
    services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/llm' } }],
    consumers: [
      { id: 'c-alice', name: 'alice', plan: 'pro', subjects: [{ issuer, sub: ALICE }] },
      { id: 'c-bob', name: 'bob', disabled: true, subjects: [{ issuer, sub: BOB }] },
    ],
    ...extra,
  });
  if (!result.ok) throw new Error(result.errors.join('\n'));
  return result.state;
}

function issuerOf(idp: TestIssuer, overrides: Partial<IssuerInput> = {}): IssuerInput {
  return { issuer: idp.issuer, jwks_uri: idp.jwksUri, aliases: [idp.aliasIssuer()], claims: { role_clients: ['portcullis-api'] }, ...overrides };
}

const request = (authorization?: string): NormalizedRequest => ({
  method: 'POST',
  scheme: 'https',
  host: 'api.example.com',
  path: '/llm/v1/chat',
  query: '',
  clientIp: '10.0.0.1',
  headers: authorization === undefined ? {} : { authorization },
  adapter: 'forward_auth',
});

/** Fast failure settings for tests; each test states what else it needs. */
const FAST: JwtResolverOptions = { fetchTimeoutMs: 1_000, fetchFailureBackoffMs: 0, jwksCooldownMs: 0 };

async function resolve(resolver: JwtResolver, state: CompiledState, token: string, now = Date.now()): Promise<ResolveOutcome> {
  return resolver.resolve(request(`Bearer ${token}`), { state, service: state.services.get('llm')!, now });
}

function principalOf(outcome: ResolveOutcome): Principal {
  if (outcome.kind !== 'resolved') throw new Error(`expected resolved, got ${JSON.stringify(outcome)}`);
  expect(outcome.location).to.deep.equal({ header: 'authorization' });
  return outcome.principal;
}

function expectRejected(outcome: ResolveOutcome, code: string, detail?: RegExp): void {
  if (outcome.kind !== 'rejected') throw new Error(`expected rejected ${code}, got ${JSON.stringify(outcome)}`);
  expect(outcome.code).to.equal(code);
  if (detail) expect(outcome.detail).to.match(detail);
}

function challengeOf(outcome: ResolveOutcome): string | undefined {
  return outcome.kind === 'rejected' ? outcome.headers?.find(([name]) => name === 'WWW-Authenticate')?.[1] : undefined;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const seconds = () => Math.floor(Date.now() / 1000);

describe('JwtResolver', function () {
  let idp: TestIssuer;
  let state: CompiledState;

  before(async () => {
    idp = await TestIssuer.start();
    state = stateWith([issuerOf(idp)]);
  });
  after(() => idp.close());
  afterEach(() => {
    idp.jwksMode = 'ok';
    idp.discoveryMode = 'ok';
  });

  describe('presence', () => {
    const resolver = new JwtResolver(FAST);
    const service = () => state.services.get('llm')!;

    it('claims Bearer JWS compacts only, so an API key in the same header goes to its own resolver', async () => {
      expect(resolver.present(request(`Bearer ${await idp.keycloakAccessToken()}`), service())).to.equal(true);
      expect(resolver.present(request('bearer aaa.bbb.'), service())).to.equal(true);
      for (const other of [undefined, 'Bearer pc_4Fz9abcdefghijklmnopqrstuvwxyz012345', 'Basic dXNlcjpwYXNz', 'Bearer a.b', 'Bearer a.b.c.d.e', 'Bearer a.b$.c', 'Token a.b.c']) {
        expect(resolver.present(request(other), service()), String(other)).to.equal(false);
        expect(resolver.resolve(request(other), { state, service: service(), now: Date.now() })).to.deep.equal({ kind: 'not_responsible' });
      }
    });
  });

  describe('valid tokens', () => {
    it('maps a Keycloak access token to a principal linked to its consumer', async () => {
      const resolver = new JwtResolver(FAST);
      const token = await idp.keycloakAccessToken({
        sub: ALICE,
        resource_access: { account: { roles: ['view-profile'] }, 'portcullis-api': { roles: ['predict', 'admin'] } },
      });
      const exp = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()).exp as number;
      const p = principalOf(await resolve(resolver, state, token));
      expect(p.authMethod).to.equal('jwt');
      expect(p.subject).to.equal(ALICE);
      expect(p.consumerId).to.equal('c-alice');
      expect(p.plan).to.equal('pro');
      expect(p.name).to.equal('alice');
      expect(p.issuer).to.equal(idp.issuer);
      expect(p.validUntilMs).to.equal(exp * 1000);
      expect([...p.scopes]).to.have.members(['openid', 'profile', 'email']);
      expect([...p.roles]).to.have.members([
        'default-roles-test',
        'offline_access',
        'uma_authorization',
        'predict',
        'admin',
        'portcullis-api:predict',
        'portcullis-api:admin',
        'account:view-profile',
      ]);
      expect(p.roles.has('view-profile'), 'roles of clients outside role_clients only count qualified').to.equal(false);
    });

    it('honours the configured claim names, scopes given as an array included', async () => {
      const resolver = new JwtResolver(FAST);
      const custom = stateWith([issuerOf(idp, { claims: { subject: 'oid', name: 'email', scopes: 'scp', role_clients: [] } })]);
      const token = await idp.keycloakAccessToken({ oid: 'object-7', scp: ['read', 'write', 7] });
      const p = principalOf(await resolve(resolver, custom, token));
      expect(p.subject).to.equal('object-7');
      expect(p.name).to.equal('alice@example.com');
      expect([...p.scopes]).to.have.members(['read', 'write']);
    });

    it('gives an unlinked subject its deterministic auto consumer id', async () => {
      const resolver = new JwtResolver(FAST);
      const p = principalOf(await resolve(resolver, state, await idp.keycloakAccessToken({ sub: CAROL })));
      expect(p.consumerId).to.equal(autoConsumerId(idp.issuer, CAROL));
      expect(p.consumerId).to.match(/^oidc_[A-Za-z0-9_-]{22}$/);
      expect(p.plan).to.equal(undefined);
    });

    it('uses the auto consumer record once the control plane created it, disabled included', async () => {
      const resolver = new JwtResolver(FAST);
      const id = autoConsumerId(idp.issuer, CAROL);
      const token = await idp.keycloakAccessToken({ sub: CAROL });
      const base = { plans: [{ name: 'auto', limits: [] }], services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/llm' } }] };
      const created = compileState({ ...base, issuers: [issuerOf(idp)], consumers: [{ id, name: 'carol', plan: 'auto' }] });
      const disabled = compileState({ ...base, issuers: [issuerOf(idp)], consumers: [{ id, name: 'carol', disabled: true }] });
      if (!created.ok || !disabled.ok) throw new Error('fixture');
      expect(principalOf(await resolve(resolver, created.state, token)).plan).to.equal('auto');
      expectRejected(await resolve(resolver, disabled.state, token), 'forbidden');
    });

    it('accepts an alias iss and reports the canonical issuer', async () => {
      const resolver = new JwtResolver(FAST);
      const p = principalOf(await resolve(resolver, state, await idp.keycloakAccessToken({ iss: idp.aliasIssuer(), sub: ALICE })));
      expect(p.issuer).to.equal(idp.issuer);
      expect(p.consumerId).to.equal('c-alice');
    });

    it('accepts header typ absent, JWT, at+jwt and application/at+jwt', async () => {
      const resolver = new JwtResolver(FAST);
      for (const typ of [null, 'JWT', 'at+jwt', 'application/at+jwt']) {
        principalOf(await resolve(resolver, state, await idp.keycloakAccessToken({}, { typ })));
      }
    });

    it('verifies ES256 issuers and refuses RS256 tokens for them', async () => {
      const es = await TestIssuer.start({ alg: 'ES256', realm: 'es' });
      try {
        const resolver = new JwtResolver(FAST);
        const esState = stateWith([{ issuer: es.issuer, jwks_uri: es.jwksUri, algorithms: ['ES256'] }]);
        principalOf(await resolve(resolver, esState, await es.keycloakAccessToken()));
        const { privateKey } = await generateKeyPair('RS256');
        expectRejected(await resolve(resolver, esState, await es.keycloakAccessToken({}, { alg: 'RS256', privateKey })), 'invalid_token');
      } finally {
        await es.close();
      }
    });

    it('is not confused by the Keycloak RSA-OAEP enc key, and tries each signing key for a token without kid', async () => {
      expect(idp.jwks().keys.some((k) => k.use === 'enc' && k.alg === 'RSA-OAEP')).to.equal(true);
      const own = await TestIssuer.start({ realm: 'nokid' });
      try {
        const resolver = new JwtResolver(FAST);
        const ownState = stateWith([{ issuer: own.issuer, jwks_uri: own.jwksUri }]);
        const withoutKid = () => own.keycloakAccessToken({}, { kid: null });
        principalOf(await resolve(resolver, ownState, await withoutKid()));
        await own.rotate(); // two RSA signing keys now match a kid-less token; the new one is listed last
        principalOf(await resolve(new JwtResolver(FAST), ownState, await withoutKid()));
      } finally {
        await own.close();
      }
    });
  });

  describe('the verified-token cache', () => {
    it('answers a repeated token without a signature check or a JWKS request', async () => {
      // cacheMaxAge 0: every verification refetches the JWKS, so fetch counts show every verification
      const resolver = new JwtResolver({ ...FAST, jwksCacheMaxAgeMs: 0 });
      const token = await idp.keycloakAccessToken({ sub: ALICE });
      const fetchesBefore = idp.jwksFetches;
      principalOf(await resolve(resolver, state, token));
      expect(idp.jwksFetches).to.equal(fetchesBefore + 1);

      idp.jwksMode = 'error';
      const again = resolver.resolve(request(`Bearer ${token}`), { state, service: state.services.get('llm')!, now: Date.now() });
      expect(again, 'a hit is answered synchronously').not.to.be.instanceOf(Promise);
      expect(principalOf(again as ResolveOutcome).consumerId).to.equal('c-alice');
      expect(idp.jwksFetches).to.equal(fetchesBefore + 1);

      const fresh = await resolve(resolver, state, await idp.keycloakAccessToken({ sub: ALICE }));
      expect(fresh).to.deep.equal({ kind: 'unavailable', detail: 'the token issuer signing keys are unavailable' });
      expect(idp.jwksFetches).to.equal(fetchesBefore + 2);
      const stats = resolver.stats();
      expect(stats).to.include({ cacheHits: 1, cacheMisses: 2, verifications: 2, unavailable: 1, jwksFetches: 2, jwksFetchFailures: 1, cacheEntries: 1 });
    });

    it('shares one verification between concurrent requests with the same new token', async () => {
      const resolver = new JwtResolver(FAST);
      const token = await idp.keycloakAccessToken({ sub: ALICE });
      const outcomes = await Promise.all(Array.from({ length: 10 }, () => resolve(resolver, state, token)));
      for (const o of outcomes) expect(principalOf(o).consumerId).to.equal('c-alice');
      expect(resolver.stats().verifications).to.equal(1);
    });

    it('survives state swaps that leave the issuer alone, while consumer changes still apply', async () => {
      const resolver = new JwtResolver(FAST);
      const token = await idp.keycloakAccessToken({ sub: ALICE });
      principalOf(await resolve(resolver, state, token));
      const swapped = stateWith([issuerOf(idp)], {
        consumers: [{ id: 'c-alice', name: 'alice', disabled: true, subjects: [{ issuer: idp.issuer, sub: ALICE }] }],
      });
      expectRejected(await resolve(resolver, swapped, token), 'forbidden');
      const relinked = stateWith([issuerOf(idp)], {
        consumers: [{ id: 'c-alice-2', name: 'alice', subjects: [{ issuer: idp.issuer, sub: ALICE }] }],
      });
      expect(principalOf(await resolve(resolver, relinked, token)).consumerId).to.equal('c-alice-2');
      expect(resolver.stats()).to.include({ verifications: 1, cacheHits: 2 });
    });

    it('is invalidated by a change of the issuer configuration', async () => {
      const resolver = new JwtResolver(FAST);
      const token = await idp.keycloakAccessToken({ sub: ALICE, aud: 'account' });
      principalOf(await resolve(resolver, state, token));
      const strict = stateWith([issuerOf(idp, { audiences: ['mlaas'] })]);
      expectRejected(await resolve(resolver, strict, token), 'invalid_audience');
      principalOf(await resolve(resolver, state, token));
      const gone = stateWith([{ issuer: 'https://other.example.com/realms/x', jwks_uri: idp.jwksUri }]);
      expectRejected(await resolve(resolver, gone, token), 'untrusted_issuer');
      expect(resolver.stats().verifications).to.equal(3);
    });

    it('keeps one key set per issuer across state swaps, issuer changes and interleaved old-state requests', async () => {
      const second = await TestIssuer.start({ realm: 'second' });
      try {
        const resolver = new JwtResolver(FAST);
        const before = idp.jwksFetches;
        principalOf(await resolve(resolver, state, await idp.keycloakAccessToken()));
        const changed = stateWith([issuerOf(idp, { audiences: ['account'] })]);
        principalOf(await resolve(resolver, changed, await idp.keycloakAccessToken()));
        const both = stateWith([issuerOf(idp), { issuer: second.issuer, jwks_uri: second.jwksUri }]);
        principalOf(await resolve(resolver, both, await second.keycloakAccessToken()));
        principalOf(await resolve(resolver, state, await idp.keycloakAccessToken())); // a late request of an old state
        principalOf(await resolve(resolver, both, await second.keycloakAccessToken()));
        expect(idp.jwksFetches - before).to.equal(1);
        expect(second.jwksFetches).to.equal(1);
      } finally {
        await second.close();
      }
    });

    it('drops an entry at the token expiry, measured on the injected clock', async () => {
      const resolver = new JwtResolver(FAST);
      const exp = seconds() + 60;
      const token = await idp.keycloakAccessToken({ sub: ALICE, exp });
      principalOf(await resolve(resolver, state, token));
      principalOf(await resolve(resolver, state, token, exp * 1000 - 1));
      expectRejected(await resolve(resolver, state, token, exp * 1000 + 60_000), 'token_expired');
      expect(resolver.stats()).to.include({ cacheHits: 1, verifications: 2 });
    });

    it('evicts the oldest entry when full', async () => {
      const resolver = new JwtResolver({ ...FAST, cacheMaxEntries: 2 });
      const tokens = await Promise.all([1, 2, 3].map((i) => idp.keycloakAccessToken({ sub: `user-${i}` })));
      for (const t of tokens) principalOf(await resolve(resolver, state, t));
      expect(resolver.stats().cacheEntries).to.equal(2);
      principalOf(await resolve(resolver, state, tokens[2]!));
      principalOf(await resolve(resolver, state, tokens[0]!));
      expect(resolver.stats()).to.include({ cacheHits: 1, verifications: 4 });
    });
  });

  describe('key rotation and the bounded refetch', () => {
    let rotating: TestIssuer;
    let rotatingState: CompiledState;
    beforeEach(async () => {
      rotating = await TestIssuer.start({ realm: 'rotating' });
      rotatingState = stateWith([{ issuer: rotating.issuer, jwks_uri: rotating.jwksUri }]);
    });
    afterEach(() => rotating.close());

    it('refetches once for a new kid after the cooldown and then resolves', async () => {
      const cooldown = 200;
      const resolver = new JwtResolver({ ...FAST, jwksCooldownMs: cooldown });
      principalOf(await resolve(resolver, rotatingState, await rotating.keycloakAccessToken()));
      expect(rotating.jwksFetches).to.equal(1);
      await rotating.rotate({ retireOld: true });
      await sleep(cooldown + 100);
      principalOf(await resolve(resolver, rotatingState, await rotating.keycloakAccessToken()));
      principalOf(await resolve(resolver, rotatingState, await rotating.keycloakAccessToken()));
      expect(rotating.jwksFetches).to.equal(2);
    });

    it('lets a flood of random kids cause at most one JWKS fetch per cooldown', async () => {
      const cooldown = 250;
      const resolver = new JwtResolver({ ...FAST, jwksCooldownMs: cooldown });
      principalOf(await resolve(resolver, rotatingState, await rotating.keycloakAccessToken()));
      const flood = await Promise.all(Array.from({ length: 60 }, (_, i) => rotating.keycloakAccessToken({ jti: `flood-${i}` }, { kid: `random-${i}` })));
      await sleep(cooldown + 50);
      const before = rotating.jwksFetches;
      const started = Date.now();
      for (const batch of [flood.slice(0, 20), flood.slice(20, 40), flood.slice(40)]) {
        const outcomes = await Promise.all(batch.map((t) => resolve(resolver, rotatingState, t)));
        for (const o of outcomes) expectRejected(o, 'invalid_token', /no signing key/);
      }
      const elapsed = Date.now() - started;
      const fetches = rotating.jwksFetches - before;
      expect(fetches).to.be.at.least(1);
      expect(fetches).to.be.at.most(1 + Math.floor(elapsed / cooldown));
      expect(fetches).to.be.below(10);
    });

    it('rejects an unknown kid as invalid_token and does not remember the rejection', async () => {
      const resolver = new JwtResolver({ ...FAST, jwksCooldownMs: 60_000 });
      principalOf(await resolve(resolver, rotatingState, await rotating.keycloakAccessToken()));
      const next = await rotating.rotate();
      // within the cooldown the new key is not fetched yet: the token is refused, no request is made
      const early = await rotating.keycloakAccessToken();
      expectRejected(await resolve(resolver, rotatingState, early), 'invalid_token', /no signing key/);
      expect(rotating.jwksFetches).to.equal(1);
      expect(resolver.stats().negativeCacheEntries).to.equal(0);
      expect(rotating.kid).to.equal(next);
    });
  });

  describe('rejections', () => {
    const resolver = new JwtResolver(FAST);

    it('rejects alg none without touching the JWKS, with a Bearer challenge', async () => {
      const before = idp.jwksFetches;
      const token = new UnsecuredJWT({ iss: idp.issuer, sub: ALICE, exp: seconds() + 300 }).encode();
      const outcome = await resolve(resolver, state, token);
      expectRejected(outcome, 'invalid_token', /not signed with an accepted algorithm/);
      expect(challengeOf(outcome)).to.equal(
        'Bearer realm="portcullis", error="invalid_token", error_description="the access token is not signed with an accepted algorithm"',
      );
      expect(idp.jwksFetches).to.equal(before);
    });

    it('rejects HS256 signed with the RSA public key as the secret, and jose alone would too', async () => {
      const pem = await idp.publicKeyPem();
      const secret = new TextEncoder().encode(pem);
      const token = await new SignJWT({ iss: idp.issuer, sub: ALICE, exp: seconds() + 300 })
        .setProtectedHeader({ alg: 'HS256', kid: idp.kid, typ: 'JWT' })
        .sign(secret);
      expectRejected(await resolve(resolver, state, token), 'invalid_token');
      // the resolver refuses before jose; prove jose's own defence holds without that pre-check
      const jwks = createRemoteJWKSet(new URL(idp.jwksUri));
      for (const algorithms of [['RS256'], ['RS256', 'HS256']]) {
        const error = await jwtVerify(token, jwks, { algorithms }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error, String(algorithms)).to.be.instanceOf(errors.JOSEError);
        expect((error as errors.JOSEError).code).to.be.oneOf(['ERR_JOSE_ALG_NOT_ALLOWED', 'ERR_JOSE_NOT_SUPPORTED']);
      }
      const rsaKey = await importSPKI(pem, 'RS256');
      const direct = await jwtVerify(token, rsaKey, { algorithms: ['RS256'] }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect((direct as errors.JOSEError).code).to.equal('ERR_JOSE_ALG_NOT_ALLOWED');
    });

    it('rejects a forged signature and remembers that verdict', async () => {
      const own = new JwtResolver(FAST);
      const { privateKey } = await generateKeyPair('RS256');
      const token = await idp.keycloakAccessToken({ sub: ALICE }, { privateKey });
      expectRejected(await resolve(own, state, token), 'invalid_token', /signature is invalid/);
      expectRejected(await resolve(own, state, token), 'invalid_token', /signature is invalid/);
      expect(own.stats()).to.include({ verifications: 1, negativeCacheHits: 1 });
    });

    it('rejects an expired token as token_expired, within clock tolerance it is still valid', async () => {
      const exp = seconds() - 60;
      const token = await idp.keycloakAccessToken({ sub: ALICE, exp, iat: exp - 300 });
      const outcome = await resolve(resolver, state, token);
      expectRejected(outcome, 'token_expired');
      expect(challengeOf(outcome)).to.contain('error="invalid_token"').and.contain('error_description="the access token has expired"');
      const justExpired = await idp.keycloakAccessToken({ sub: ALICE, exp: seconds() + 100 });
      principalOf(await resolve(new JwtResolver(FAST), state, justExpired, (seconds() + 102) * 1000));
    });

    it('rejects a token that is not yet valid, and accepts it once it is', async () => {
      const own = new JwtResolver(FAST);
      const nbf = seconds() + 600;
      const token = await idp.keycloakAccessToken({ sub: ALICE, nbf, exp: nbf + 300 });
      expectRejected(await resolve(own, state, token), 'invalid_token', /not yet valid/);
      principalOf(await resolve(own, state, token, (nbf + 1) * 1000));
    });

    it('rejects an untrusted issuer without fetching anything', async () => {
      const before = idp.jwksFetches;
      expectRejected(await resolve(resolver, state, await idp.keycloakAccessToken({ iss: 'https://evil.example.com/realms/test' })), 'untrusted_issuer');
      expectRejected(await resolve(resolver, state, await idp.keycloakAccessToken({ iss: undefined })), 'invalid_token', /names no issuer/);
      expect(idp.jwksFetches).to.equal(before);
    });

    it('checks aud, and accepts azp instead when authorized parties are configured', async () => {
      const own = new JwtResolver(FAST);
      const audOnly = stateWith([issuerOf(idp, { audiences: ['mlaas'] })]);
      expectRejected(await resolve(own, audOnly, await idp.keycloakAccessToken({ aud: 'account' })), 'invalid_audience');
      expectRejected(await resolve(own, audOnly, await idp.keycloakAccessToken({ aud: undefined })), 'invalid_audience');
      principalOf(await resolve(own, audOnly, await idp.keycloakAccessToken({ aud: ['account', 'mlaas'] })));
      const either = stateWith([issuerOf(idp, { audiences: ['mlaas'], authorized_parties: ['portcullis-cli'] })]);
      principalOf(await resolve(own, either, await idp.keycloakAccessToken({ aud: 'account', azp: 'portcullis-cli' })));
      principalOf(await resolve(own, either, await idp.keycloakAccessToken({ aud: 'mlaas', azp: 'other' })));
      expectRejected(await resolve(own, either, await idp.keycloakAccessToken({ aud: 'account', azp: 'other' })), 'invalid_audience');
      const azpOnly = stateWith([issuerOf(idp, { authorized_parties: ['portcullis-cli'] })]);
      principalOf(await resolve(own, azpOnly, await idp.keycloakAccessToken({ aud: undefined })));
      expectRejected(await resolve(own, azpOnly, await idp.keycloakAccessToken({ azp: undefined })), 'invalid_audience');
    });

    it('rejects ID and refresh tokens as wrong_token_type and unknown header types as invalid', async () => {
      expectRejected(await resolve(resolver, state, await idp.keycloakIdToken({ sub: ALICE })), 'wrong_token_type');
      expectRejected(await resolve(resolver, state, await idp.keycloakAccessToken({ typ: 'Refresh' })), 'wrong_token_type');
      expectRejected(await resolve(resolver, state, await idp.keycloakAccessToken({}, { typ: 'dpop+jwt' })), 'invalid_token', /header type/);
    });

    it('rejects garbage, oversized, non-JSON and incomplete tokens as invalid_token, never throwing', async () => {
      const b64 = (s: string) => Buffer.from(s).toString('base64url');
      const header = b64(JSON.stringify({ alg: 'RS256', kid: idp.kid }));
      const cases: [string, RegExp][] = [
        ['abc.def.ghi', /malformed/],
        [`${header}.${b64('not json')}.c2ln`, /malformed/],
        [`${header}.${b64('[1,2]')}.c2ln`, /malformed/],
        [`${b64('{"alg":')}.${b64('{}')}.c2ln`, /malformed/],
        [`${header}.${b64(JSON.stringify({ iss: idp.issuer, sub: 'x', exp: seconds() + 60, pad: 'x'.repeat(20_000) }))}.c2ln`, /too large/],
        [await idp.keycloakAccessToken({ exp: undefined }), /no valid expiry/],
        [await idp.keycloakAccessToken({ exp: 'tomorrow' as unknown as number }), /no valid expiry/],
        [await idp.keycloakAccessToken({ sub: undefined }), /no subject/],
        [await idp.keycloakAccessToken({ sub: '' }), /no subject/],
      ];
      for (const [token, detail] of cases) {
        const outcome = await resolve(resolver, state, token);
        expectRejected(outcome, 'invalid_token', detail);
        expect(challengeOf(outcome)).not.to.contain(token.slice(0, 20));
      }
    });

    it('answers unknown_consumer under required mapping and forbidden for a disabled consumer, without a challenge', async () => {
      const required = stateWith([issuerOf(idp, { consumer_mapping: 'required' })]);
      principalOf(await resolve(resolver, required, await idp.keycloakAccessToken({ sub: ALICE })));
      const unknown = await resolve(resolver, required, await idp.keycloakAccessToken({ sub: CAROL }));
      expectRejected(unknown, 'unknown_consumer');
      expect(challengeOf(unknown)).to.equal(undefined);
      expectRejected(await resolve(resolver, state, await idp.keycloakAccessToken({ sub: BOB })), 'forbidden');
    });
  });

  describe('when keys cannot be had', () => {
    for (const mode of ['error', 'garbage', 'wrong-shape'] as const) {
      it(`answers unavailable when the JWKS endpoint is in mode ${mode}, and never remembers it`, async () => {
        const resolver = new JwtResolver(FAST);
        const token = await idp.keycloakAccessToken({ sub: ALICE });
        idp.jwksMode = mode;
        expect((await resolve(resolver, state, token)).kind).to.equal('unavailable');
        idp.jwksMode = 'ok';
        principalOf(await resolve(resolver, state, token));
      });
    }

    it('gives up on a hanging JWKS endpoint at the fetch deadline', async () => {
      const resolver = new JwtResolver({ ...FAST, fetchTimeoutMs: 300 });
      idp.jwksMode = 'hang';
      const started = Date.now();
      expect((await resolve(resolver, state, await idp.keycloakAccessToken())).kind).to.equal('unavailable');
      expect(Date.now() - started).to.be.below(5_000); // jose's own default would be 5 s
    });

    it('answers unavailable when the JWKS host refuses connections', async () => {
      const port = await freePort();
      const resolver = new JwtResolver(FAST);
      const down = stateWith([issuerOf(idp, { jwks_uri: `http://127.0.0.1:${port}/certs` })]);
      expect((await resolve(resolver, down, await idp.keycloakAccessToken())).kind).to.equal('unavailable');
    });

    it('does not retry a failed provider within the failure backoff', async () => {
      const events: JwtResolverEvent[] = [];
      const resolver = new JwtResolver({ ...FAST, fetchFailureBackoffMs: 60_000, onEvent: (e) => events.push(e) });
      idp.jwksMode = 'error';
      const before = idp.jwksFetches;
      for (let i = 0; i < 5; i++) expect((await resolve(resolver, state, await idp.keycloakAccessToken({ jti: `b-${i}` }))).kind).to.equal('unavailable');
      expect(idp.jwksFetches - before).to.equal(1);
      expect(events).to.have.length(1);
      expect(events[0]).to.include({ type: 'jwks_fetch', issuer: idp.issuer, ok: false, reason: 'HTTP 500' });
    });
  });

  describe('OIDC discovery', () => {
    const discovering = () => stateWith([{ issuer: idp.issuer }]);

    it('finds the JWKS through the discovery document, once', async () => {
      const resolver = new JwtResolver(FAST);
      const discoveryBefore = idp.discoveryFetches;
      const s = discovering();
      for (let i = 0; i < 3; i++) principalOf(await resolve(resolver, s, await idp.keycloakAccessToken({ jti: `d-${i}` })));
      expect(idp.discoveryFetches - discoveryBefore).to.equal(1);
      expect(resolver.stats()).to.include({ discoveryFetches: 1, jwksFetches: 1 });
    });

    it('answers unavailable while discovery fails and recovers afterwards', async () => {
      const resolver = new JwtResolver(FAST);
      const s = discovering();
      for (const mode of ['error', 'garbage', 'wrong-shape'] as const) {
        idp.discoveryMode = mode;
        expect((await resolve(resolver, s, await idp.keycloakAccessToken())).kind, mode).to.equal('unavailable');
      }
      idp.discoveryMode = 'ok';
      principalOf(await resolve(resolver, s, await idp.keycloakAccessToken()));
    });

    it('refuses a discovery document that names another issuer', async () => {
      const resolver = new JwtResolver(FAST);
      // the same realm reached by another name: its document names 127.0.0.1, not localhost
      const s = stateWith([{ issuer: idp.aliasIssuer() }]);
      const events: JwtResolverEvent[] = [];
      const observed = new JwtResolver({ ...FAST, onEvent: (e) => events.push(e) });
      expect((await resolve(observed, s, await idp.keycloakAccessToken({ iss: idp.aliasIssuer() }))).kind).to.equal('unavailable');
      expect(events.map((e) => e.reason)).to.deep.equal(['discovery document names another issuer']);
      expect(resolver.stats().discoveryFetches).to.equal(0);
    });
  });

  describe('prefetch and options', () => {
    it('prefetches every issuer and reports those whose keys could not be had', async () => {
      const resolver = new JwtResolver(FAST);
      const port = await freePort();
      const before = idp.jwksFetches;
      const failed = await resolver.prefetch(stateWith([issuerOf(idp), { issuer: 'http://127.0.0.1:1/realms/x', jwks_uri: `http://127.0.0.1:${port}/certs` }]).issuers);
      expect(failed).to.deep.equal(['http://127.0.0.1:1/realms/x']);
      expect(idp.jwksFetches).to.equal(before + 1);
      principalOf(await resolve(resolver, state, await idp.keycloakAccessToken()));
      expect(idp.jwksFetches).to.equal(before + 1);
    });

    it('reports every bad option at once', () => {
      expect(() => new JwtResolver({ cacheMaxEntries: -1, fetchTimeoutMs: 0.5, realm: 'a"b' })).to.throw(
        RangeError,
        /cacheMaxEntries must be a non-negative integer; fetchTimeoutMs must be a non-negative integer; realm must be/,
      );
    });
  });
});
