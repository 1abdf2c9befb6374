import { expect } from 'chai';
import { generateApiKey, KeyHasher } from '../credentials/api-key/format.js';
import { ApiKeyResolver } from '../credentials/api-key/resolver.js';
import type { ResolveOutcome } from '../credentials/resolver.js';
import type { CompiledState } from '../state/compile.js';
import type { KeySpec } from '../state/schema.js';
import type { WireChange, WireDelta } from './messages.js';
import { catalogFromJson, ReplicaState } from './replica-state.js';
import { consumerToWire, keyToWire } from './wire.js';

const hasher = new KeyHasher('replica-state-test-pepper-0123456789abcdef');
const resolver = new ApiKeyResolver({ hasher });
const catalog = {
  plans: [{ name: 'gold', limits: [{ window: '1s', requests: 100 }] }],
  services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/llm' } }],
};

function fresh(): ReplicaState {
  const compiled = catalogFromJson(JSON.stringify(catalog));
  if (!compiled.ok) throw new Error(compiled.problems.join());
  return new ReplicaState('epoch-1', 1, compiled.catalog);
}

function keySpec(id: string, secret: string, overrides: Partial<KeySpec> = {}): KeySpec {
  return { id, consumer_id: 'alice', secrets: [{ hash: hasher.hash(secret) }], services: [], scopes: ['chat'], limits: [], revoked: false, ...overrides };
}

const keyChange = (spec: KeySpec, action: WireChange['action'] = 'ACTION_CREATED'): WireChange => ({ resource: 'RESOURCE_KEY', action, id: spec.id, key: keyToWire(spec) });
const delta = (from: number, to: number, changes: WireChange[], catalogJson = ''): WireDelta => ({ from_revision: from, revision: to, changes, catalog_json: catalogJson });

async function resolve(state: CompiledState, key: string): Promise<ResolveOutcome> {
  return resolver.resolve(
    { adapter: 'forward_auth', method: 'GET', scheme: 'http', host: 'h', path: '/llm', query: '', headers: { 'x-api-key': key }, clientIp: '127.0.0.1' },
    { state, service: state.services.get('llm')!, now: Date.now() },
  );
}

describe('ReplicaState', () => {
  const secret = generateApiKey().key;
  const alice = consumerToWire({ id: 'alice', name: 'Alice', plan: 'gold', subjects: [{ issuer: 'https://idp.example/r', sub: 'u-1' }], disabled: false });

  function seeded(): ReplicaState {
    const state = fresh();
    expect(state.apply(delta(1, 2, [{ resource: 'RESOURCE_CONSUMER', action: 'ACTION_CREATED', id: 'alice', consumer: alice }, keyChange(keySpec('k1', secret))]))).to.deep.equal({ ok: true });
    return state;
  }

  it('resolves a key created by a delta, and denies it once a later delta revokes it', async () => {
    const state = seeded();
    const before = state.compiled();
    expect(before.revision).to.equal(2);
    expect((await resolve(before, secret)).kind).to.equal('resolved');
    expect(state.apply(delta(2, 3, [keyChange(keySpec('k1', secret, { revoked: true }), 'ACTION_REVOKED')]))).to.deep.equal({ ok: true });
    const after = state.compiled();
    expect(after).to.not.equal(before);
    expect(after.revision).to.equal(3);
    expect(await resolve(after, secret)).to.include({ kind: 'rejected', code: 'api_key_revoked' });
  });

  it('after a rotation both secrets resolve until the old one’s grace ends', async () => {
    const state = seeded();
    const next = generateApiKey().key;
    const graceEnd = new Date(Date.now() + 60_000).toISOString();
    const rotated = keySpec('k1', next, { secrets: [{ hash: hasher.hash(next) }, { hash: hasher.hash(secret), not_after: graceEnd }] });
    state.apply(delta(2, 3, [keyChange(rotated, 'ACTION_ROTATED')]));
    const compiled = state.compiled();
    expect((await resolve(compiled, next)).kind).to.equal('resolved');
    expect((await resolve(compiled, secret)).kind).to.equal('resolved');
    expect(compiled.keysByHash.get(hasher.hash(secret))!.notAfterMs).to.equal(Date.parse(graceEnd));
  });

  it('deleting a consumer takes its keys and its subject links along', async () => {
    const state = seeded();
    expect(state.compiled().consumerBySubject('https://idp.example/r', 'u-1')?.id).to.equal('alice');
    state.apply(delta(2, 3, [{ resource: 'RESOURCE_CONSUMER', action: 'ACTION_DELETED', id: 'alice', consumer: null }]));
    const compiled = state.compiled();
    expect(compiled.consumers.has('alice')).to.equal(false);
    expect(compiled.keyCount).to.equal(0);
    expect(compiled.consumerBySubject('https://idp.example/r', 'u-1')).to.equal(undefined);
    expect(await resolve(compiled, secret)).to.include({ kind: 'rejected', code: 'unknown_api_key' });
  });

  it('recompiles the catalog from a delta that carries one', () => {
    const state = seeded();
    const next = { ...catalog, services: [...catalog.services, { name: 'embed', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/embed' } }] };
    state.apply(delta(2, 3, [{ resource: 'RESOURCE_SERVICE', action: 'ACTION_CREATED', id: 'svc_1' }], JSON.stringify(next)));
    expect(state.compiled().matchRoute('h', '/embed/x', 'GET').kind).to.equal('matched');
    expect(state.compiled().catalog.services.map((s) => s.name)).to.deep.equal(['llm', 'embed']);
  });

  it('refuses a delta that does not follow its revision, and changes nothing', () => {
    const state = seeded();
    const result = state.apply(delta(5, 6, [keyChange(keySpec('k2', generateApiKey().key))]));
    expect(result.ok).to.equal(false);
    expect(state.revision).to.equal(2);
    expect(state.keys.keyCount).to.equal(1);
  });

  it('refuses a delta with any invalid part whole: a good key in it does not land either', () => {
    const state = seeded();
    const good = keyChange(keySpec('k2', generateApiKey().key));
    const badCatalog = JSON.stringify({ services: [{ name: 'x', upstream_urls: ['http://a'], match: { path_prefix: '/x' }, plan: 'missing' }] });
    const result = state.apply(delta(2, 3, [good], badCatalog));
    expect(result.ok).to.equal(false);
    if (!result.ok) expect(result.problems.join()).to.match(/unknown plan "missing"/);
    const badKey = { ...keyChange(keySpec('k3', generateApiKey().key)), key: { ...keyToWire(keySpec('k3', 'x')), secrets: [] } };
    expect(state.apply(delta(2, 3, [good, badKey])).ok).to.equal(false);
    expect(state.keys.keyCount).to.equal(1);
    expect(state.revision).to.equal(2);
  });
});
