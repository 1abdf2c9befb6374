import { expect } from 'chai';
import { spawnSync } from 'node:child_process';
import { parse } from 'yaml';
import { generateApiKey, KeyHasher } from '../credentials/api-key/format.js';
import { compileState } from '../state/compile.js';
import { keyEntry } from './hash-key.js';

const PEPPER = 'a-pepper-that-is-at-least-32-bytes-long';
const tool = new URL('./hash-key.ts', import.meta.url).pathname;

function run(args: string[], input?: string, env: Record<string, string> = { PORTCULLIS_KEY_PEPPER: PEPPER }) {
  return spawnSync(process.execPath, ['--import', 'tsx', tool, ...args], { input, env: { PATH: process.env['PATH'] ?? '', ...env }, encoding: 'utf8' });
}

const stateWith = (keys: unknown) => ({ consumers: [{ id: 'alice', name: 'Alice' }], services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:1'], match: { path_prefix: '/' } }], keys });

describe('hash-key', () => {
  it('builds a state entry holding only the hash and display prefix', () => {
    const hasher = new KeyHasher(PEPPER);
    const { key } = generateApiKey();
    const entry = keyEntry({ key, id: 'alice-1', consumerId: 'alice', scopes: ['chat'], services: ['llm'] }, hasher);
    expect(entry.secrets[0]!.hash).to.equal(hasher.hash(key));
    expect(JSON.stringify(entry)).not.to.contain(key);
    const compiled = compileState(stateWith([entry]));
    expect(compiled.ok).to.equal(true);
    if (compiled.ok) expect(compiled.state.keysByHash.get(hasher.hash(key))?.key.id).to.equal('alice-1');
  });

  it('generates a key on stderr and the YAML entry on stdout', () => {
    const r = run(['--id', 'alice-1', '--consumer', 'alice', '--scope', 'chat']);
    expect(r.status, r.stderr).to.equal(0);
    const key = /: (pc_[0-9A-Za-z]{36})$/m.exec(r.stderr)?.[1];
    expect(key).to.be.a('string');
    const entries = parse(r.stdout);
    expect(entries[0].secrets[0].hash).to.equal(new KeyHasher(PEPPER).hash(key!));
    expect(r.stdout).not.to.contain(key!);
    expect(compileState(stateWith(entries)).ok).to.equal(true);
  });

  it('hashes a key given on stdin and refuses a mistyped one', () => {
    const { key } = generateApiKey('acme');
    const r = run(['--stdin', '--id', 'k', '--consumer', 'alice'], `${key}\n`);
    expect(r.status, r.stderr).to.equal(0);
    expect(parse(r.stdout)[0].secrets[0].hash).to.equal(new KeyHasher(PEPPER).hash(key));
    const typo = key.slice(0, -1) + (key.endsWith('a') ? 'b' : 'a');
    expect(run(['--stdin', '--id', 'k', '--consumer', 'alice'], typo).status).to.equal(1);
  });

  it('needs a pepper, an id and a consumer', () => {
    expect(run(['--id', 'k', '--consumer', 'c'], undefined, {}).status).to.equal(2);
    expect(run(['--consumer', 'c']).status).to.equal(2);
    const short = run(['--id', 'k', '--consumer', 'c'], undefined, { PORTCULLIS_KEY_PEPPER: 'short' });
    expect(short.status).to.equal(2);
    expect(short.stderr).not.to.contain('short\n');
  });
});
