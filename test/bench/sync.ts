/**
 * `npm run bench:sync`: what state sync costs, measured on the compiled build.
 *
 * 1. Revocation lag. Two control planes (separate processes, one PostgreSQL database) and two authz replicas
 *    (separate processes; A syncs from control plane 1, B from control plane 2). Keys are revoked one by one
 *    through control plane 1's REST API while both replicas are polled; the lag is from the revoke call to
 *    the moment both replicas deny the key. The baseline in the same run is the REST call itself.
 * 2. Snapshot load and memory, at 100k and 1M keys (a quarter as many consumers): a replica-format snapshot
 *    file is written, then read and indexed in a fresh process; memory is taken after full collections and
 *    compared with a process that loaded the same code and no state.
 * 3. A full snapshot over gRPC: a control plane whose database holds N keys streams them to a new replica.
 *
 * Knobs: BENCH_SYNC_REVOCATIONS (200), BENCH_SYNC_SIZES (100000,1000000), BENCH_SYNC_STREAM_KEYS (100000; 0 skips).
 * Needs PostgreSQL (PORTCULLIS_TEST_PG_URL, default the local server); runs `npm run build` first.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { generateApiKey } from '../../authz-service/src/credentials/api-key/format.js';
import { waitFor } from '../harness/ports.js';
import { type ControlPlaneProcess, type ReplicaProcess, startControlPlaneProcess, startReplicaProcess } from '../harness/portcullis-processes.js';
import { createTempDatabase, type TempDatabase } from '../harness/postgres.js';
import { REPO_ROOT, type ServiceProcess } from '../harness/service-process.js';
import { createKey, seedCatalog } from '../harness/sync.js';

const number = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value >= 0 ? value : fallback;
};
const REVOCATIONS = number('BENCH_SYNC_REVOCATIONS', 200);
const SIZES = (process.env['BENCH_SYNC_SIZES'] ?? '100000,1000000').split(',').map(Number).filter((n) => n > 0);
const STREAM_KEYS = number('BENCH_SYNC_STREAM_KEYS', 100_000);

const PEPPER = randomBytes(48).toString('base64url');
const ADMIN_KEY = generateApiKey().key;
const dist = (path: string) => join('dist', path);

function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}
const ms = (n: number) => `${n.toFixed(1)} ms`;

// ── processes ───────────────────────────────────────────────────────────────────

const scratchDirs: string[] = [];
function scratchDir(label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pc-bench-${label}-`));
  scratchDirs.push(dir);
  return dir;
}

const controlPlane = (name: string, databaseUrl: string): Promise<ControlPlaneProcess> =>
  startControlPlaneProcess(name, {
    databaseUrl,
    dataDir: scratchDir('cp'),
    pepper: PEPPER,
    adminKey: ADMIN_KEY,
    entry: dist('control-plane/src/main.js'),
    startTimeoutMs: 120_000,
  });

const replica = (name: string, syncPort: number, logLevel = 'warn'): Promise<ReplicaProcess> =>
  startReplicaProcess(name, {
    syncPort,
    snapshotDir: scratchDir('replica'),
    pepper: PEPPER,
    entry: dist('authz-service/src/main.js'),
    startTimeoutMs: 600_000,
    env: { PORTCULLIS_ALLOW_LOG_SAMPLE_RATE: '0', PORTCULLIS_LOG_LEVEL: logLevel },
  });

// ── 1. revocation lag ───────────────────────────────────────────────────────────

const agent = new Agent({ keepAlive: true, maxSockets: 4 });

function decide(port: number, key: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/forward-auth',
        agent,
        headers: { 'x-forwarded-method': 'POST', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/llm/v1/chat', 'x-api-key': key },
      },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
      },
    );
    req.on('error', reject);
    req.end();
  });
}

/** Resolves with the time (performance.now) at which the replica first denied the key. */
async function deniedAt(port: number, key: string, deadline: number): Promise<number> {
  for (;;) {
    if ((await decide(port, key)) === 401) return performance.now();
    if (performance.now() > deadline) throw new Error(`replica ${port} still allows a revoked key`);
  }
}

async function revocationLag(database: TempDatabase): Promise<void> {
  const cp1 = await controlPlane('control-plane-1', database.url);
  const cp2 = await controlPlane('control-plane-2', database.url);
  const services: ServiceProcess[] = [cp1.process, cp2.process];
  try {
    const { consumerId } = await seedCatalog(cp1.call);
    const a = await replica('replica-a', cp1.syncPort);
    const b = await replica('replica-b', cp2.syncPort);
    services.push(a.process, b.process);
    const keys: { id: string; key: string }[] = [];
    for (let i = 0; i < REVOCATIONS; i++) keys.push(await createKey(cp1.call, consumerId));
    await waitFor(async () => (await decide(a.port, keys.at(-1)!.key)) === 200 && (await decide(b.port, keys.at(-1)!.key)) === 200, 'keys on both replicas', 30_000);

    const api: number[] = [];
    const afterApi: number[] = [];
    const total: number[] = [];
    for (const { id, key } of keys) {
      const started = performance.now();
      const revoked = cp1.call('POST', `/v1/keys/${id}/revoke`, {}).then((reply) => {
        if (reply.status !== 200) throw new Error(`revoke: ${reply.status} ${reply.text}`);
        return performance.now();
      });
      const deadline = started + 10_000;
      const [answered, atA, atB] = await Promise.all([revoked, deniedAt(a.port, key, deadline), deniedAt(b.port, key, deadline)]);
      const both = Math.max(atA, atB);
      api.push(answered - started);
      total.push(both - started);
      afterApi.push(Math.max(0, both - answered));
    }
    for (const list of [api, afterApi, total]) list.sort((x, y) => x - y);
    console.log(`\nRevocation lag over ${REVOCATIONS} revocations (REST on control plane 1; replica A via control plane 1, B via control plane 2 and NOTIFY)`);
    console.log(`  revoke API call (baseline)          p50 ${ms(percentile(api, 50))}   p99 ${ms(percentile(api, 99))}`);
    console.log(`  call start → denied on both         p50 ${ms(percentile(total, 50))}   p99 ${ms(percentile(total, 99))}`);
    console.log(`  API answered → denied on both       p50 ${ms(percentile(afterApi, 50))}   p99 ${ms(percentile(afterApi, 99))}`);
    console.log(`  lag / API call                      p50 ${(percentile(total, 50) / percentile(api, 50)).toFixed(2)}×`);
  } finally {
    for (const s of services.reverse()) await s.kill();
  }
}

// ── 2. snapshot load and memory ─────────────────────────────────────────────────

function child(args: readonly string[]): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const proc = spawn(process.execPath, ['--expose-gc', dist('test/bench/sync-snapshot-child.js'), ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    proc.stdout.on('data', (d) => (out += String(d)));
    proc.once('exit', (code) => (code === 0 ? resolve(JSON.parse(out.trim().split('\n').at(-1)!)) : reject(new Error(`snapshot child ${args[0]} exited ${code}`))));
  });
}

async function snapshotLoad(): Promise<void> {
  const baseline = await child(['baseline']);
  console.log(`\nSnapshot from disk, loaded and indexed in a fresh process (memory after full GC; empty replica code: RSS ${baseline['rssMb']!.toFixed(0)} MB, heap ${baseline['heapMb']!.toFixed(0)} MB)`);
  for (const keys of SIZES) {
    const dir = mkdtempSync(join(tmpdir(), 'pc-bench-snapshot-'));
    try {
      const written = await child(['write', dir, String(keys)]);
      const loaded = await child(['load', dir]);
      const held = loaded['heapMb']! + loaded['externalMb']! - baseline['heapMb']! - baseline['externalMb']!;
      console.log(
        `  ${String(keys).padStart(8)} keys, ${String(written['consumers']).padStart(7)} consumers   load ${(loaded['loadMs']! / 1000).toFixed(2)} s   ` +
          `process RSS ${loaded['rssMb']!.toFixed(0)} MB   state held ${held.toFixed(0)} MB (${((held * 1e6) / keys).toFixed(0)} B/key)   write ${(written['writeMs']! / 1000).toFixed(2)} s`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
}

// ── 3. a full snapshot over gRPC ────────────────────────────────────────────────

/** N keys straight into the database (a quarter as many consumers), far faster than N API calls. */
async function seedKeys(url: string, keys: number): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const consumers = Math.max(1, Math.floor(keys / 4));
    await client.query(
      `INSERT INTO consumers (id, name, kind, disabled, created_at, updated_at)
       SELECT 'con_' || lpad(i::text, 26, '0'), 'Consumer ' || i, 'person', false, now(), now() FROM generate_series(0, $1 - 1) AS i`,
      [consumers],
    );
    await client.query(
      `INSERT INTO api_keys (id, consumer_id, scopes, limits, created_at, updated_at)
       SELECT 'key_' || lpad(i::text, 26, '0'), 'con_' || lpad((i % $2)::text, 26, '0'), '["chat"]', '[]', now(), now() FROM generate_series(0, $1 - 1) AS i`,
      [keys, consumers],
    );
    await client.query(
      `INSERT INTO api_key_secrets (hash, key_id, prefix, created_at)
       SELECT translate(rtrim(encode(sha256(('bench-key-' || i)::bytea), 'base64'), '='), '+/', '-_'), 'key_' || lpad(i::text, 26, '0'), 'pc_bnch', now()
       FROM generate_series(0, $1 - 1) AS i`,
      [keys],
    );
  } finally {
    await client.end();
  }
}

async function snapshotOverGrpc(database: TempDatabase): Promise<void> {
  if (STREAM_KEYS === 0) return;
  const cp = await controlPlane('control-plane', database.url);
  const services: ServiceProcess[] = [cp.process];
  try {
    await seedKeys(database.url, STREAM_KEYS);
    const started = performance.now();
    const r = await replica('replica', cp.syncPort, 'info');
    services.push(r.process);
    const untilReady = performance.now() - started;
    const received = () => r.process.output.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l['msg'] === 'snapshot received');
    // the log line is written just after the state is swapped in (readiness), asynchronously
    await waitFor(() => received() !== undefined, 'the replica to log its snapshot', 10_000);
    const line = received();
    const metrics = await new Promise<string>((resolve, reject) =>
      request({ host: '127.0.0.1', port: r.port, path: '/metrics' }, (res) => {
        let body = '';
        res.on('data', (d) => (body += String(d)));
        res.on('end', () => resolve(body));
      })
        .on('error', reject)
        .end(),
    );
    const gauge = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? NaN) / 1e6;
    console.log(`\nFull snapshot over gRPC from a control plane on PostgreSQL (${STREAM_KEYS} keys, ${Math.floor(STREAM_KEYS / 4)} consumers)`);
    console.log(
      `  stream received and indexed ${((line?.['ms'] as number) / 1000).toFixed(2)} s   process start to ready ${(untilReady / 1000).toFixed(2)} s   ` +
        `replica RSS ${gauge('process_resident_memory_bytes').toFixed(0)} MB (heap used ${gauge('nodejs_heap_size_used_bytes').toFixed(0)} MB, no forced GC)`,
    );
  } finally {
    for (const s of services.reverse()) await s.kill();
  }
}

async function main(): Promise<void> {
  const build = spawnSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (build.status !== 0) throw new Error('npm run build failed');
  console.log(`State sync benchmark — node ${process.version}`);
  const lagDb = await createTempDatabase('bench_sync_lag');
  try {
    if (REVOCATIONS > 0) await revocationLag(lagDb);
  } finally {
    await lagDb.drop();
  }
  await snapshotLoad();
  const streamDb = await createTempDatabase('bench_sync_stream');
  try {
    await snapshotOverGrpc(streamDb);
  } finally {
    await streamDb.drop();
  }
  agent.destroy();
  for (const dir of scratchDirs) rmSync(dir, { recursive: true, force: true });
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
