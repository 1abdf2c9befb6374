import { expect } from 'chai';
import { type CompiledState, compileState, pathHasPrefix } from './compile.js';
import type { StateInput } from './schema.js';

const HASH = 'A'.repeat(43);
const HASH2 = 'B'.repeat(43);

function compile(input: StateInput): CompiledState {
  const r = compileState(input);
  if (!r.ok) throw new Error(r.errors.join('\n'));
  return r.state;
}

function errorsOf(input: unknown): readonly string[] {
  const r = compileState(input);
  if (r.ok) throw new Error('expected the state to be rejected');
  return r.errors;
}

const base: StateInput = {
  plans: [{ name: 'free', limits: [{ window: '1s', requests: 10 }, { window: '1d', requests: 10000 }] }],
  services: [
    {
      name: 'llm',
      upstream_urls: ['http://127.0.0.1:9000'],
      match: { host: 'api.example.com', path_prefix: '/llm' },
      plan: 'free',
      scopes: ['llm'],
      routes: [
        { name: 'chat', path_prefix: '/llm/v1/chat', methods: ['post'], scopes: ['chat'], cost: 5 },
        { name: 'models', path_prefix: '/llm/v1/models', public: true },
      ],
    },
    { name: 'embed', upstream_urls: ['http://127.0.0.1:9001'], match: { path_prefix: '/embed' } },
    { name: 'catchall', upstream_urls: ['http://127.0.0.1:9002'], match: { host: '*.example.com' } },
  ],
  consumers: [{ id: 'c1', name: 'alice', subjects: [{ issuer: 'https://idp.example.com/realms/x', sub: 'u-1' }] }],
  keys: [{ id: 'k1', consumer_id: 'c1', secrets: [{ hash: HASH }, { hash: HASH2, not_after: '2030-01-01T00:00:00Z' }], services: ['llm'] }],
};

describe('compileState', () => {
  const state = compile(base);

  it('applies defaults and freezes the result', () => {
    expect(Object.isFrozen(state)).to.equal(true);
    const llm = state.services.get('llm')!;
    expect(llm.spec.credentials).to.deep.equal(['api_key', 'jwt']);
    expect(llm.spec.fail_mode).to.equal('open');
    expect(llm.spec.mode).to.equal('enforce');
    expect(state.plans.get('free')!.limits.map((l) => l.windowSeconds)).to.deep.equal([1, 86400]);
  });

  it('routes by host first, then longest path prefix, then route', () => {
    const m = state.matchRoute('api.example.com', '/llm/v1/chat/completions', 'POST');
    expect(m.kind).to.equal('matched');
    if (m.kind !== 'matched') return;
    expect(m.route.ref).to.deep.equal({ service: 'llm', route: 'chat' });
    expect(m.route.scopes).to.deep.equal(['llm', 'chat']);
    expect(m.route.cost).to.equal(5);
  });

  it('falls back to the service default route when no route matches the method or path', () => {
    const get = state.matchRoute('api.example.com', '/llm/v1/chat/completions', 'GET');
    expect(get.kind === 'matched' && get.route.ref.route).to.equal('default');
    const other = state.matchRoute('api.example.com', '/llm/other', 'GET');
    expect(other.kind === 'matched' && other.route.ref).to.deep.equal({ service: 'llm', route: 'default' });
  });

  it('is segment-aware and honours wildcard and host-less services', () => {
    expect(state.matchRoute('api.example.com', '/llmx', 'GET')).to.satisfy(
      (m: ReturnType<CompiledState['matchRoute']>) => m.kind === 'matched' && m.service.name === 'catchall',
    );
    expect(state.matchRoute('other.example.com', '/embed/x', 'GET')).to.satisfy(
      (m: ReturnType<CompiledState['matchRoute']>) => m.kind === 'matched' && m.service.name === 'catchall',
    );
    expect(state.matchRoute('unknown.org', '/embed/x', 'GET')).to.satisfy(
      (m: ReturnType<CompiledState['matchRoute']>) => m.kind === 'matched' && m.service.name === 'embed',
    );
    expect(state.matchRoute('unknown.org', '/nothing', 'GET').kind).to.equal('no_route');
    expect(state.matchRoute('example.com', '/x', 'GET').kind).to.equal('no_route');
  });

  it('lets Envoy context_extensions select service and route', () => {
    const m = state.matchRoute('ignored', '/whatever', 'GET', { service: 'llm', route: 'models' });
    expect(m.kind === 'matched' && m.route.ref).to.deep.equal({ service: 'llm', route: 'models' });
    expect(state.matchRoute('x', '/', 'GET', { service: 'nope' }).kind).to.equal('no_route');
    expect(state.matchRoute('x', '/', 'GET', { service: 'llm', route: 'nope' }).kind).to.equal('no_route');
  });

  it('indexes every secret of a key and consumers by subject', () => {
    expect(state.keysByHash.get(HASH)!.key.id).to.equal('k1');
    expect(state.keysByHash.get(HASH2)!.notAfterMs).to.equal(Date.parse('2030-01-01T00:00:00Z'));
    expect([...state.keysByHash.get(HASH)!.key.services!]).to.deep.equal(['llm']);
    expect(state.consumerBySubject('https://idp.example.com/realms/x', 'u-1')!.id).to.equal('c1');
    expect(state.consumerBySubject('https://idp.example.com/realms/x', 'u-2')).to.equal(undefined);
  });

  it('reports every problem at once, with paths', () => {
    const errors = errorsOf({
      plans: [{ name: 'Bad Name', limits: [{ window: '1 sec', requests: -1 }] }],
      services: [{ name: 's', upstream_urls: ['ftp://x'], match: {} }],
      unexpected: true,
    });
    expect(errors.length).to.be.greaterThanOrEqual(5);
    expect(errors.join('\n')).to.include('plans[0].name').and.include('plans[0].limits[0].window').and.include('services[0].upstream_urls[0]');
    expect(errors.join('\n')).to.include('services[0].match').and.include('unexpected');
  });

  it('rejects ambiguous routing and dangling references at load time', () => {
    const errors = errorsOf({
      services: [
        { name: 'a', upstream_urls: ['http://x'], match: { host: 'h.com', path_prefix: '/v1' }, plan: 'missing' },
        { name: 'b', upstream_urls: ['http://x'], match: { host: 'h.com', path_prefix: '/v1' } },
        {
          name: 'c',
          upstream_urls: ['http://x'],
          match: { path_prefix: '/c' },
          routes: [
            { name: 'r1', path_prefix: '/c/x', methods: ['GET', 'POST'] },
            { name: 'r2', path_prefix: '/c/x', methods: ['POST'] },
            { name: 'r3', path_prefix: '/elsewhere' },
          ],
        },
      ],
      consumers: [{ id: 'c', name: 'c' }, { id: 'c', name: 'dup' }],
      keys: [{ id: 'k', consumer_id: 'nobody', secrets: [{ hash: HASH }], services: ['ghost'] }],
    }).join('\n');
    expect(errors).to.include('same host and path_prefix as service "a"');
    expect(errors).to.include('"r1" and "r2" both match /c/x');
    expect(errors).to.include('outside the service prefix');
    expect(errors).to.include('unknown plan "missing"');
    expect(errors).to.include('duplicate consumer "c"');
    expect(errors).to.include('unknown consumer "nobody"');
    expect(errors).to.include('unknown service "ghost"');
  });

  it('refuses path prefixes with dot segments', () => {
    const errors = errorsOf({ services: [{ name: 'a', upstream_urls: ['http://x'], match: { path_prefix: '/v1/../admin' } }] });
    expect(errors.join('\n')).to.include('dot segments');
  });
});

describe('pathHasPrefix', () => {
  it('matches whole segments only', () => {
    expect(pathHasPrefix('/v1', '/v1')).to.equal(true);
    expect(pathHasPrefix('/v1/x', '/v1')).to.equal(true);
    expect(pathHasPrefix('/v1x', '/v1')).to.equal(false);
    expect(pathHasPrefix('/v1x', '/v1/')).to.equal(false);
    expect(pathHasPrefix('/v1/x', '/v1/')).to.equal(true);
    expect(pathHasPrefix('/anything', '/')).to.equal(true);
  });
});
