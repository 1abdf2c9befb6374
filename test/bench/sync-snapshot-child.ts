/**
 * Child process of the sync benchmark, so every measurement starts from a clean heap:
 *
 *   baseline            load the modules a replica loads, report memory (what an empty replica costs)
 *   write <dir> <keys>  build a synthetic state (keys/4 consumers) and write it as a snapshot file
 *   load <dir>          read and index the snapshot file; report the time and the memory held afterwards
 *
 * Prints one JSON line. Run with --expose-gc: memory is measured after full collections, and RSS after the
 * collector has had a moment to give freed pages back.
 */
import { randomBytes } from 'node:crypto';
import { catalogFromJson, ReplicaState } from '../../authz-service/src/sync/replica-state.js';
import { readSnapshot, writeSnapshot } from '../../authz-service/src/sync/snapshot-file.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error('run with --expose-gc');

async function settledMemory(): Promise<{ rssMb: number; heapMb: number; externalMb: number }> {
  gc!();
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  gc!();
  const m = process.memoryUsage();
  // external includes arrayBuffers (the key table's typed arrays)
  return { rssMb: m.rss / 1e6, heapMb: m.heapUsed / 1e6, externalMb: m.external / 1e6 };
}

const CATALOG = {
  plans: [{ name: 'standard', limits: [{ window: '1s', requests: 100 }] }],
  services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/llm' }, plan: 'standard' }],
};

const id = (kind: string, i: number) => `${kind}_${i.toString(32).padStart(26, '0')}`;

async function write(dir: string, keys: number): Promise<Record<string, number>> {
  const catalog = catalogFromJson(JSON.stringify(CATALOG));
  if (!catalog.ok) throw new Error(catalog.problems.join());
  const consumers = Math.max(1, Math.floor(keys / 4));
  const state = new ReplicaState('bench', 1, catalog.catalog, { keys, consumers });
  for (let i = 0; i < consumers; i++) state.addCheckedConsumer({ id: id('con', i), name: `Consumer ${i}`, subjects: [], disabled: false });
  const digests = randomBytes(keys * 32);
  for (let i = 0; i < keys; i++) {
    state.addCheckedKey({
      id: id('key', i),
      consumerId: id('con', i % consumers),
      secrets: [{ digest: digests.subarray(i * 32, i * 32 + 32) }],
      services: [],
      scopes: ['chat'],
      limits: [],
      revoked: false,
    });
  }
  const started = performance.now();
  await writeSnapshot(dir, state, Date.now());
  return { keys, consumers, writeMs: performance.now() - started };
}

async function load(dir: string): Promise<Record<string, unknown>> {
  const started = performance.now();
  const loaded = await readSnapshot(dir);
  const loadMs = performance.now() - started;
  if (loaded.kind !== 'loaded') throw new Error(`snapshot ${loaded.kind}: ${loaded.kind === 'rejected' ? loaded.problems.join('; ') : ''}`);
  const memory = await settledMemory();
  return { keys: loaded.state.keys.keyCount, consumers: loaded.state.consumers.size, loadMs, ...memory, held: loaded.state.revision };
}

const [mode, dir, count] = process.argv.slice(2);
const result = mode === 'baseline' ? await settledMemory() : mode === 'write' ? await write(dir!, Number(count)) : await load(dir!);
process.stdout.write(`${JSON.stringify(result)}\n`);
