/**
 * `npm run bench`: autocannon against a bare node:http server and against the authz-service's /forward-auth,
 * in the same run, on the same core, so results are ratios that mean something on any machine.
 *
 * Scenarios: valid API key with the memory bucket, repeated RS256 JWT (token cache), first-seen RS256 JWTs
 * (a signature check each), the 429 path, and the Redis bucket. Servers run pinned to one core and the load
 * generator (this process) to another when `taskset` is available.
 *
 * Knobs (environment): BENCH_DURATION seconds per scenario (6), BENCH_CONNECTIONS (100), BENCH_PIPELINING (1),
 * BENCH_WARMUP seconds (1), BENCH_FIRST_SEEN_TOKENS (6000), BENCH_REDIS_URL (redis://127.0.0.1:6379),
 * BENCH_ONLY (comma-separated scenario names).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sampleState, TEST_PEPPER, writeStateFile } from '../harness/authz.js';
import { TestIssuer } from '../harness/oidc.js';
import { freePort, waitFor } from '../harness/ports.js';
import { send } from '../harness/http.js';

// autocannon ships no types; this is the part of its result we read
interface Histogram {
  readonly average: number;
  readonly p50: number;
  readonly p99: number;
}
interface AutocannonResult {
  readonly duration: number;
  readonly latency: Histogram;
  readonly errors: number;
  readonly timeouts: number;
  readonly statusCodeStats: Record<string, { count: number }>;
}
interface AutocannonRequest {
  headers?: Record<string, string>;
  [key: string]: unknown;
}
type Autocannon = (opts: Record<string, unknown>) => Promise<AutocannonResult>;
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

const env = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const DURATION = env('BENCH_DURATION', 6);
const CONNECTIONS = env('BENCH_CONNECTIONS', 100);
const PIPELINING = env('BENCH_PIPELINING', 1);
const WARMUP = env('BENCH_WARMUP', 1);
const FIRST_SEEN_TOKENS = env('BENCH_FIRST_SEEN_TOKENS', 6000);
const REDIS_URL = process.env['BENCH_REDIS_URL'] ?? 'redis://127.0.0.1:6379';
const ONLY = process.env['BENCH_ONLY']?.split(',').map((s) => s.trim());

const root = fileURLToPath(new URL('../../', import.meta.url));
const canPin = availableParallelism() >= 2 && spawnSync('taskset', ['-V']).status === 0;

interface Row {
  readonly scenario: string;
  readonly rps?: number;
  /** Server CPU (user + system, all threads) per completed request, in µs: robust when the load generator is the bottleneck. */
  readonly cpuUs?: number;
  readonly p50?: number;
  readonly p99?: number;
  readonly statuses?: string;
  readonly note?: string;
  readonly target?: number;
}

/** Start a node process running `script` (pinned to core 0 when possible); resolves once it is serving. */
async function startServer(script: string, extraEnv: Record<string, string>, port: number, readyPath: string): Promise<ChildProcess> {
  // servers run from the compiled build (`npm run bench` builds first): what ships, without the dev loader's costs
  const node = [process.execPath, `dist/${script.replace(/\.ts$/, '.js')}`];
  const [cmd, ...args] = canPin ? ['taskset', '-c', '0', ...node] : node;
  const child = spawn(cmd!, args, { cwd: root, env: { ...process.env, ...extraEnv, PORT: String(port) }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.on('data', (d) => (stderr += String(d)));
  let exited = false;
  child.once('exit', () => (exited = true));
  await waitFor(async () => {
    if (exited) throw new Error(`${script} exited: ${stderr}`);
    return (await send(port, { path: readyPath }).catch(() => ({ status: 0 }))).status === 200;
  }, `${script} on ${port}`, 30_000);
  return child;
}

async function stopServer(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  await exited;
}

const CLOCK_TICKS_PER_SECOND = Number(spawnSync('getconf', ['CLK_TCK']).stdout?.toString().trim()) || 100;

/** utime + stime of a process in seconds, from /proc (Linux); undefined elsewhere. */
function cpuSeconds(pid: number | undefined): number | undefined {
  if (pid === undefined) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
  } catch {
    return undefined;
  }
}

interface Measured extends AutocannonResult {
  readonly serverCpuSeconds?: number;
}

async function cannon(url: string, options: Record<string, unknown>, server?: ChildProcess): Promise<Measured> {
  const before = cpuSeconds(server?.pid);
  const result = await autocannon({ url, connections: CONNECTIONS, pipelining: PIPELINING, duration: DURATION, ...options });
  const after = cpuSeconds(server?.pid);
  return before === undefined || after === undefined ? result : { ...result, serverCpuSeconds: after - before };
}

function row(scenario: string, result: Measured, target?: number): Row {
  let completed = 0;
  const statuses: string[] = [];
  for (const [status, { count }] of Object.entries(result.statusCodeStats)) {
    completed += Number(count);
    statuses.push(`${status}×${count}`);
  }
  if (result.errors > 0) statuses.push(`errors×${result.errors}`);
  const cpuUs = result.serverCpuSeconds === undefined || completed === 0 ? undefined : (result.serverCpuSeconds * 1e6) / completed;
  return {
    scenario,
    rps: completed / result.duration,
    ...(cpuUs === undefined ? {} : { cpuUs }),
    p50: result.latency.p50,
    p99: result.latency.p99,
    statuses: statuses.join(' '),
    ...(target ? { target } : {}),
  };
}

function forwardAuthHeaders(extra: Record<string, string>): Record<string, string> {
  return { 'x-forwarded-method': 'POST', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': '/llm/v1/chat/completions', 'x-forwarded-for': '203.0.113.9', ...extra };
}

async function redisReachable(url: string): Promise<boolean> {
  const { Redis } = await import('ioredis');
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, enableOfflineQueue: false, connectTimeout: 1000, retryStrategy: () => null });
  client.on('error', () => {});
  try {
    await client.connect();
    return (await client.ping()) === 'PONG';
  } catch {
    return false;
  } finally {
    client.disconnect();
  }
}

function selected(name: string): boolean {
  return ONLY === undefined || ONLY.includes(name);
}

async function main(): Promise<void> {
  if (canPin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  console.log(
    `bench: ${DURATION}s per scenario, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ` +
      (canPin ? 'servers pinned to core 0, load generator to core 1' : 'no pinning (taskset missing or one core)'),
  );
  const rows: Row[] = [];

  // ── baseline ─────────────────────────────────────────────────────────────────
  const barePort = await freePort();
  const bare = await startServer('test/bench/bare-server.ts', {}, barePort, '/');
  const bareUrl = `http://127.0.0.1:${barePort}/forward-auth`;
  await cannon(bareUrl, { duration: WARMUP });
  const bareRow = row('bare node:http', await cannon(bareUrl, {}, bare));
  rows.push(bareRow);
  await stopServer(bare);

  // ── authz-service, memory buckets ────────────────────────────────────────────
  const idp = await TestIssuer.start();
  const { state, keys } = sampleState({ issuer: idp.issuer, standardPerSecond: 1_000_000_000 });
  const stateFile = writeStateFile(state);
  const authzEnv = (port: number, extra: Record<string, string> = {}) => ({
    PORTCULLIS_AUTHZ_PORT: String(port),
    PORTCULLIS_AUTHZ_HOST: '127.0.0.1',
    PORTCULLIS_STATE_FILE: stateFile,
    PORTCULLIS_KEY_PEPPER: TEST_PEPPER,
    PORTCULLIS_LOG_LEVEL: 'info',
    PORTCULLIS_EXT_AUTHZ_PORT: 'off',
    ...extra,
  });
  const authzPort = await freePort();
  const authz = await startServer('authz-service/src/main.ts', authzEnv(authzPort), authzPort, '/readyz');
  const url = `http://127.0.0.1:${authzPort}/forward-auth`;
  try {
    if (selected('api-key')) {
      const headers = forwardAuthHeaders({ 'x-api-key': keys.alice });
      await cannon(url, { headers, duration: WARMUP });
      rows.push(row('API key + memory bucket', await cannon(url, { headers }, authz), 0.85));
    }
    const token = await idp.keycloakAccessToken({ scope: 'openid chat', exp: Math.floor(Date.now() / 1000) + 3600 });
    if (selected('jwt-repeat')) {
      const headers = forwardAuthHeaders({ authorization: `Bearer ${token}` });
      await cannon(url, { headers, duration: WARMUP });
      rows.push(row('RS256 JWT, repeated (cache)', await cannon(url, { headers }, authz), 0.75));
    }
    if (selected('jwt-first-seen')) {
      // every request carries a token the service has never seen: one signature check each
      process.stdout.write(`signing ${FIRST_SEEN_TOKENS} tokens for the first-seen scenario…\n`);
      const tokens: string[] = [];
      for (let i = 0; i < FIRST_SEEN_TOKENS; i += 64) {
        const batch = Array.from({ length: Math.min(64, FIRST_SEEN_TOKENS - i) }, (_, j) => idp.keycloakAccessToken({ scope: 'openid chat', sub: `user-${i + j}`, exp: Math.floor(Date.now() / 1000) + 3600 }));
        tokens.push(...(await Promise.all(batch)));
      }
      let next = 0;
      const base = forwardAuthHeaders({});
      const result = await cannon(
        url,
        {
        amount: tokens.length,
        requests: [
          {
            setupRequest: (request: AutocannonRequest) => {
              request.headers = { ...base, authorization: `Bearer ${tokens[next++ % tokens.length]}` };
              return request;
            },
          },
        ],
        },
        authz,
      );
      rows.push({ ...row('RS256 JWT, first seen (verify)', result), note: `${tokens.length} distinct tokens` });
    }
    if (selected('429')) {
      const headers = forwardAuthHeaders({ 'x-api-key': keys.bob });
      await cannon(url, { headers, duration: WARMUP });
      rows.push(row('429 path (deny + log line)', await cannon(url, { headers }, authz)));
    }
  } finally {
    await stopServer(authz);
  }

  // ── authz-service, Redis buckets ─────────────────────────────────────────────
  if (selected('redis')) {
    if (!(await redisReachable(REDIS_URL))) {
      rows.push({ scenario: 'API key + Redis bucket', note: `skipped: no Redis at ${REDIS_URL}` });
    } else {
      const redisPort = await freePort();
      const redisAuthz = await startServer('authz-service/src/main.ts', authzEnv(redisPort, { PORTCULLIS_REDIS_URL: REDIS_URL }), redisPort, '/readyz');
      try {
        const redisUrl = `http://127.0.0.1:${redisPort}/forward-auth`;
        const headers = forwardAuthHeaders({ 'x-api-key': keys.alice });
        await cannon(redisUrl, { headers, duration: WARMUP });
        rows.push(row('API key + Redis bucket', await cannon(redisUrl, { headers }, redisAuthz), 0.6));
      } finally {
        await stopServer(redisAuthz);
      }
    }
  }
  await idp.close();

  // ── report ───────────────────────────────────────────────────────────────────
  const bareRps = bareRow.rps!;
  const bareCpu = bareRow.cpuUs;
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  // "× bare" is throughput; "cpu × bare" is bare's CPU per request over this scenario's — the capacity ratio a
  // saturated server would show, and the honest figure when the load generator (same machine) is the bottleneck
  const lines = [['scenario', 'req/s', 'p50 ms', 'p99 ms', '× bare', 'cpu µs/req', 'cpu × bare', 'target', 'statuses / note']];
  for (const r of rows) {
    const ratio = r.rps === undefined ? undefined : r.rps / bareRps;
    const capacity = r.cpuUs === undefined || bareCpu === undefined ? undefined : bareCpu / r.cpuUs;
    const judged = capacity ?? ratio;
    const verdict = r.target === undefined || judged === undefined ? '' : `≥${r.target} ${judged >= r.target ? 'ok' : 'MISSED'}`;
    lines.push([r.scenario, fmt(r.rps), fmt(r.p50, 2), fmt(r.p99, 2), fmt(ratio, 2), fmt(r.cpuUs, 1), fmt(capacity, 2), verdict, [r.statuses, r.note].filter(Boolean).join('; ')]);
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  console.log('');
  for (const l of lines) console.log(l.map((cell, i) => (i === 0 || i === l.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  console.log(
    `\n${JSON.stringify({
      bench: rows.map((r) => ({
        ...r,
        ratio: r.rps === undefined ? undefined : +(r.rps / bareRps).toFixed(3),
        cpuRatio: r.cpuUs === undefined || bareCpu === undefined ? undefined : +(bareCpu / r.cpuUs).toFixed(3),
      })),
    })}`,
  );
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
