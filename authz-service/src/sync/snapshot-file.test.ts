import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileState } from '../state/compile.js';
import type { KeySpec } from '../state/schema.js';
import { catalogFromJson, ReplicaState } from './replica-state.js';
import { readSnapshot, snapshotPath, writeSnapshot } from './snapshot-file.js';
import { consumerToWire, keyToWire } from './wire.js';

const catalog = {
  plans: [{ name: 'gold', limits: [{ window: '1s', requests: 100 }] }],
  services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/llm' }, plan: 'gold' }],
  issuers: [{ issuer: 'https://idp.example/realms/x' }],
};

function key(i: number): KeySpec {
  return {
    id: `k${i}`,
    consumer_id: `c${i % 3}`,
    secrets: i % 5 === 0 ? [{ hash: randomBytes(32).toString('base64url') }, { hash: randomBytes(32).toString('base64url'), not_after: '2031-01-01T00:00:00.000Z' }] : [{ hash: randomBytes(32).toString('base64url') }],
    services: i % 2 === 0 ? ['llm'] : [],
    scopes: ['chat'],
    limits: [],
    revoked: i % 7 === 0,
    ...(i % 4 === 0 ? { expires_at: '2032-06-01T00:00:00.000Z' } : {}),
  };
}

function sampleState(keys = 50): ReplicaState {
  const compiled = catalogFromJson(JSON.stringify(catalog));
  if (!compiled.ok) throw new Error(compiled.problems.join());
  const state = new ReplicaState('epoch-a', 17, compiled.catalog);
  state.addConsumers([0, 1, 2].map((i) => consumerToWire({ id: `c${i}`, name: `C ${i}`, subjects: i === 0 ? [{ issuer: 'https://idp.example/realms/x', sub: 'u0' }] : [], disabled: i === 2 })));
  state.addKeys(Array.from({ length: keys }, (_, i) => keyToWire(key(i))));
  return state;
}

describe('snapshot file', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'pc-snapshot-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('writes a file only its owner can read, and reads back the same state', async () => {
    const state = sampleState();
    await writeSnapshot(dir, state, 1_700_000_000_000);
    expect(statSync(snapshotPath(dir)).mode & 0o777).to.equal(0o600);
    expect(readdirSync(dir), 'no temporary file left behind').to.deep.equal(['portcullis-state.snapshot']);
    const loaded = await readSnapshot(dir);
    if (loaded.kind !== 'loaded') throw new Error(JSON.stringify(loaded));
    expect(loaded.header).to.deep.equal({ epoch: 'epoch-a', revision: 17, contactMs: 1_700_000_000_000 });
    expect(loaded.state.catalog.spec).to.deep.equal(state.catalog.spec);
    expect([...loaded.state.consumers.values()]).to.deep.equal([...state.consumers.values()]);
    expect([...loaded.state.keys.export()]).to.deep.equal([...state.keys.export()]);
    expect(loaded.state.compiled().consumerBySubject('https://idp.example/realms/x', 'u0')?.id).to.equal('c0');
  });

  it('holds a StateSchema document between header and trailer: a state file for PORTCULLIS_STATE_FILE', async () => {
    await writeSnapshot(dir, sampleState(), Date.now());
    const lines = readFileSync(snapshotPath(dir), 'utf8').trimEnd().split('\n');
    const compiled = compileState(JSON.parse(lines.slice(1, -1).join('\n')));
    if (!compiled.ok) throw new Error(compiled.errors.join('\n'));
    expect(compiled.state.revision).to.equal(17);
    expect(compiled.state.keyCount).to.equal(50);
  });

  it('says missing when there is no file', async () => {
    expect(await readSnapshot(dir)).to.deep.equal({ kind: 'missing' });
  });

  it('refuses a file whose bytes changed, that was cut short, or that is not a snapshot', async () => {
    await writeSnapshot(dir, sampleState(), Date.now());
    const original = readFileSync(snapshotPath(dir), 'utf8');
    const cases: [string, string, RegExp][] = [
      ['a flipped revoked flag', original.replace('"revoked":true', '"revoked":false'), /checksum/],
      ['a torn write', original.slice(0, Math.floor(original.length / 2)), /ends early|not JSON/],
      ['no trailer', original.split('\n').slice(0, -2).join('\n') + '\n', /ends early/],
      ['something else entirely', '{"hello":"world"}\n', /known format/],
      ['an invalid key behind a valid checksum', original.replace(/"scopes":\["chat"\]/, '"scopes":["a b"]'), /scopes|checksum/],
    ];
    for (const [name, text, problem] of cases) {
      writeFileSync(snapshotPath(dir), text);
      const loaded = await readSnapshot(dir);
      expect(loaded.kind, name).to.equal('rejected');
      if (loaded.kind === 'rejected') expect(loaded.problems.join(' '), name).to.match(problem);
    }
  });

  it('replaces the previous file whole', async () => {
    await writeSnapshot(dir, sampleState(10), Date.now());
    await writeSnapshot(dir, sampleState(20), Date.now());
    const loaded = await readSnapshot(dir);
    expect(loaded.kind === 'loaded' && loaded.state.keys.keyCount).to.equal(20);
  });
});
