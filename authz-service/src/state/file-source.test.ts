import { expect } from 'chai';
import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '../../../test/harness/ports.js';
import { FileStateSource, loadStateFile, parseStateText, type ReloadOutcome } from './file-source.js';
import { StateStore } from './store.js';

const yamlState = (revision: number) => `
revision: ${revision}
plans:
  - name: free
    limits: [{ window: 1s, requests: 10 }]
services:
  - name: llm
    upstream_urls: [http://127.0.0.1:9000]
    match: { path_prefix: /llm }
    plan: free
`;

describe('state file source', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'pc-state-'));
  });

  it('parses YAML and JSON', () => {
    expect(parseStateText('a: 1', 'x.yaml')).to.deep.equal({ ok: true, value: { a: 1 } });
    expect(parseStateText('{"a": 1}', 'x.json')).to.deep.equal({ ok: true, value: { a: 1 } });
    expect(parseStateText('', 'x.yaml')).to.deep.equal({ ok: true, value: {} });
    expect(parseStateText('a: 1\na: 2', 'x.yml').ok).to.equal(false);
    expect(parseStateText('{"a": ', 'x.json').ok).to.equal(false);
  });

  it('loads a YAML file into a compiled state', async () => {
    const path = join(dir, 'state.yaml');
    writeFileSync(path, yamlState(3));
    const r = await loadStateFile(path);
    expect(r.ok).to.equal(true);
    if (!r.ok) return;
    expect(r.state.revision).to.equal(3);
    expect(r.state.matchRoute('any', '/llm/x', 'GET').kind).to.equal('matched');
  });

  it('reports every problem of a bad file at once', async () => {
    const path = join(dir, 'state.json');
    writeFileSync(
      path,
      JSON.stringify({
        services: [{ name: 'Bad Name', upstream_urls: ['ftp://x'], match: {} }],
        keys: [{ id: 'k', consumer_id: 'nobody', secrets: [{ hash: 'short' }] }],
      }),
    );
    const r = await loadStateFile(path);
    expect(r.ok).to.equal(false);
    if (r.ok) return;
    expect(r.errors.length).to.be.greaterThan(3);
    expect(r.errors.join('\n')).to.contain('services[0].name');
    expect(r.errors.join('\n')).to.contain('keys[0].secrets[0].hash');
    const missing = await loadStateFile(join(dir, 'nope.yaml'));
    expect(missing.ok).to.equal(false);
  });

  it('swaps the state on reload, ignores unchanged content, and keeps the previous state when a reload is invalid', async () => {
    const path = join(dir, 'state.yaml');
    writeFileSync(path, yamlState(1));
    const store = new StateStore();
    const outcomes: ReloadOutcome[] = [];
    const swaps: number[] = [];
    store.onSwap((next) => swaps.push(next.state.revision));
    const source = new FileStateSource({ path, store, onReload: (o) => outcomes.push(o) });
    expect(store.ready).to.equal(false);
    expect(await source.reload()).to.deep.equal({ kind: 'loaded', revision: 1 });
    expect(store.ready).to.equal(true);
    expect(await source.reload()).to.deep.equal({ kind: 'unchanged' });
    writeFileSync(path, 'services: [{ name: x }]');
    const rejected = await source.reload();
    expect(rejected.kind).to.equal('rejected');
    expect(rejected.kind === 'rejected' && rejected.keptPrevious).to.equal(true);
    expect(store.current()?.revision).to.equal(1);
    writeFileSync(path, yamlState(2));
    await source.reload();
    expect(store.current()?.revision).to.equal(2);
    expect(swaps).to.deep.equal([1, 2]);
    expect(outcomes.map((o) => o.kind)).to.deep.equal(['loaded', 'unchanged', 'rejected', 'loaded']);
  });

  it('serialises concurrent reloads and the last one sees the newest file', async () => {
    const path = join(dir, 'state.yaml');
    writeFileSync(path, yamlState(1));
    const store = new StateStore();
    const source = new FileStateSource({ path, store });
    const first = source.reload();
    writeFileSync(path, yamlState(2));
    const second = source.reload();
    const third = source.reload();
    expect(second).to.equal(third);
    await Promise.all([first, second]);
    expect(store.current()?.revision).to.equal(2);
  });

  it('reloads when the file is replaced by rename, as editors and ConfigMaps do', async () => {
    const path = join(dir, 'state.yaml');
    writeFileSync(path, yamlState(1));
    const store = new StateStore();
    const source = new FileStateSource({ path, store, debounceMs: 20 });
    await source.reload();
    source.watch();
    try {
      writeFileSync(join(dir, 'tmp'), yamlState(7));
      renameSync(join(dir, 'tmp'), path);
      await waitFor(() => store.current()?.revision === 7, 'the watched file to reload');
    } finally {
      source.close();
    }
  });
});
