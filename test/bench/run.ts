/**
 * `npm run bench`: autocannon against a bare node:http server and against the authz-service's /forward-auth,
 * in the same run, on the same core, so results are ratios that mean something on any machine.
 *
 * Scenarios: valid API key with the memory bucket, repeated RS256 JWT (token cache), first-seen RS256 JWTs
 * (a signature check each), the 429 path, and the Redis bucket; and, for scale, the baselines in
 * bare-server.ts (bare, the framing floor, a minimal API-key check). Servers run pinned to one core and the
 * load generator (this process) to another when `taskset` is available.
 *
 * Each round (BENCH_ROUNDS, 3) starts fresh server processes and runs every repeatable scenario once; the
 * report gives medians over rounds: the machines this runs on are shared and noisy, a ratio taken within one
 * round compares like with like, and fresh processes average out what one process's memory layout does.
 *
 * Knobs (environment): BENCH_DURATION seconds per scenario and round (5), BENCH_ROUNDS (3), BENCH_CONNECTIONS (100), BENCH_PIPELINING (1),
 * BENCH_WARMUP seconds (1), BENCH_FIRST_SEEN_TOKENS (6000), BENCH_REDIS_URL (redis://127.0.0.1:6379),
 * BENCH_ONLY (comma-separated scenario names: floor, minimal, api-key, jwt-repeat, 429, redis, jwt-first-seen).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { sampleState, TEST_PEPPER, writeStateFile } from '../harness/authz.js';
import { TestIssuer } from '../harness/oidc.js';
import { freePort, waitFor } from '../harness/ports.js';
import { send, sendRaw } from '../harness/http.js';

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
const DURATION = env('BENCH_DURATION', 5);
const ROUNDS = env('BENCH_ROUNDS', 3);
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

/**
 * Start a node process running `script` (pinned to core 0 when possible); resolves once `readyPath` answers
 * 200 (the baselines answer any path, so any answer at all means they are serving).
 */
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
    const { status } = await send(port, { path: readyPath }).catch(() => ({ status: 0 }));
    return readyPath === '/readyz' ? status === 200 : status > 0;
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

/** One scenario: what to send, to which server, and whether it can be repeated each round. */
type Role = 'bare' | 'floor' | 'minimal' | 'authz' | 'redis';

interface Running {
  readonly child: ChildProcess;
  readonly url: string;
  readonly port: number;
}

interface Scenario {
  readonly name: string;
  /** Which server answers; every round starts a fresh process of each role. */
  readonly role: Role;
  readonly options: () => Record<string, unknown>;
  readonly target?: number;
  /** First-seen tokens are seen only once: that scenario runs in one round, after the others. */
  readonly once?: boolean;
  readonly note?: string;
}

interface Sample {
  readonly rps: number;
  readonly cpuUs?: number;
  readonly p50: number;
  readonly p99: number;
  readonly statuses: Readonly<Record<string, number>>;
}

function sample(result: Measured): Sample {
  let completed = 0;
  const statuses: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(result.statusCodeStats)) {
    completed += Number(count);
    statuses[status] = Number(count);
  }
  if (result.errors > 0) statuses['errors'] = result.errors;
  const cpuUs = result.serverCpuSeconds === undefined || completed === 0 ? undefined : (result.serverCpuSeconds * 1e6) / completed;
  return { rps: completed / result.duration, ...(cpuUs === undefined ? {} : { cpuUs }), p50: result.latency.p50, p99: result.latency.p99, statuses };
}

function median(values: readonly number[]): number | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

const defined = (values: readonly (number | undefined)[]): number[] => values.filter((v): v is number => v !== undefined);

/** The allow headers a live authz-service sends for this request, minus the ones node adds by itself. */
async function capturedAllowHeaders(port: number, headers: Record<string, string>): Promise<string[]> {
  const request = `GET /forward-auth HTTP/1.1\r\nhost: 127.0.0.1\r\n${Object.entries(headers).map(([n, v]) => `${n}: ${v}\r\n`).join('')}connection: close\r\n\r\n`;
  const raw = await sendRaw(port, request);
  const [statusLine, ...lines] = raw.split('\r\n\r\n', 1)[0]!.split('\r\n');
  if (!statusLine?.includes(' 200 ')) throw new Error(`expected an allow to capture its headers, got: ${statusLine}`);
  const flat: string[] = [];
  for (const line of lines) {
    const colon = line.indexOf(':');
    const name = line.slice(0, colon);
    if (/^(date|connection|keep-alive)$/i.test(name)) continue;
    flat.push(name, line.slice(colon + 1).trim());
  }
  return flat;
}

async function main(): Promise<void> {
  if (canPin) spawnSync('taskset', ['-cp', '1', String(process.pid)], { stdio: 'ignore' });
  console.log(
    `bench: ${ROUNDS} rounds of ${DURATION}s per scenario, fresh server processes each round, ${CONNECTIONS} connections, pipelining ${PIPELINING}, ` +
      (canPin ? 'servers pinned to core 0, load generator to core 1' : 'no pinning (taskset missing or one core)'),
  );
  const servers = new Set<ChildProcess>();
  const start = async (script: string, envFor: (port: number) => Record<string, string>, readyPath: string): Promise<Running> => {
    const port = await freePort();
    const child = await startServer(script, envFor(port), port, readyPath);
    servers.add(child);
    return { child, url: `http://127.0.0.1:${port}/forward-auth`, port };
  };
  const stop = async (running: Iterable<Running>) => {
    for (const { child } of running) {
      await stopServer(child);
      servers.delete(child);
    }
  };

  const idp = await TestIssuer.start();
  try {
    const { state, keys } = sampleState({ issuer: idp.issuer, standardPerSecond: 1_000_000_000 });
    const stateFile = writeStateFile(state);
    const startAuthz = (extra: Record<string, string> = {}) =>
      start(
        'authz-service/src/main.ts',
        (port) => ({
          PORTCULLIS_AUTHZ_PORT: String(port),
          PORTCULLIS_AUTHZ_HOST: '127.0.0.1',
          PORTCULLIS_STATE_FILE: stateFile,
          PORTCULLIS_KEY_PEPPER: TEST_PEPPER,
          PORTCULLIS_LOG_LEVEL: 'info',
          PORTCULLIS_EXT_AUTHZ_PORT: 'off',
          ...extra,
        }),
        '/readyz',
      );

    const apiKeyHeaders = forwardAuthHeaders({ 'x-api-key': keys.alice });
    const probe = await startAuthz();
    const allowHeaders = JSON.stringify(await capturedAllowHeaders(probe.port, apiKeyHeaders));
    await stop([probe]);

    const launch: Record<Role, () => Promise<Running>> = {
      bare: () => start('test/bench/bare-server.ts', () => ({}), '/'),
      floor: () => start('test/bench/bare-server.ts', () => ({ BARE_MODE: 'floor', BARE_ALLOW_HEADERS: allowHeaders }), '/'),
      minimal: () => start('test/bench/bare-server.ts', () => ({ BARE_MODE: 'minimal', BARE_API_KEY: keys.alice, BARE_PEPPER: TEST_PEPPER }), '/'),
      authz: () => startAuthz(),
      redis: () => startAuthz({ PORTCULLIS_REDIS_URL: REDIS_URL }),
    };

    // every baseline gets the very request the API-key scenario sends: parsing it is a cost any server pays
    const scenarios: Scenario[] = [{ name: 'bare node:http', role: 'bare', options: () => ({ headers: apiKeyHeaders }) }];
    if (selected('floor')) scenarios.push({ name: 'node:http + our allow headers (floor)', role: 'floor', options: () => ({ headers: apiKeyHeaders }) });
    if (selected('minimal')) scenarios.push({ name: 'minimal API-key check (reference)', role: 'minimal', options: () => ({ headers: apiKeyHeaders }) });
    if (selected('api-key')) scenarios.push({ name: 'API key + memory bucket', role: 'authz', options: () => ({ headers: apiKeyHeaders }), target: 0.85 });
    const token = await idp.keycloakAccessToken({ scope: 'openid chat', exp: Math.floor(Date.now() / 1000) + 3600 });
    if (selected('jwt-repeat')) {
      const headers = forwardAuthHeaders({ authorization: `Bearer ${token}` });
      scenarios.push({ name: 'RS256 JWT, repeated (cache)', role: 'authz', options: () => ({ headers }), target: 0.75 });
    }
    if (selected('429')) {
      const headers = forwardAuthHeaders({ 'x-api-key': keys.bob });
      scenarios.push({ name: '429 path (deny + log line)', role: 'authz', options: () => ({ headers }) });
    }
    if (selected('redis')) {
      if (await redisReachable(REDIS_URL)) {
        scenarios.push({ name: 'API key + Redis bucket', role: 'redis', options: () => ({ headers: apiKeyHeaders }), target: 0.6 });
      } else {
        console.log(`API key + Redis bucket: skipped, no Redis at ${REDIS_URL}`);
      }
    }
    if (selected('jwt-first-seen')) {
      // every request carries a token the service has never seen: one signature check each
      process.stdout.write(`signing ${FIRST_SEEN_TOKENS} tokens for the first-seen scenario…\n`);
      const tokens: string[] = [];
      for (let i = 0; i < FIRST_SEEN_TOKENS; i += 64) {
        const batch = Array.from({ length: Math.min(64, FIRST_SEEN_TOKENS - i) }, (_, j) => idp.keycloakAccessToken({ scope: 'openid chat', sub: `user-${i + j}`, exp: Math.floor(Date.now() / 1000) + 3600 }));
        tokens.push(...(await Promise.all(batch)));
      }
      const base = forwardAuthHeaders({});
      scenarios.push({
        name: 'RS256 JWT, first seen (verify)',
        role: 'authz',
        once: true,
        note: `${tokens.length} distinct tokens`,
        options: () => {
          let next = 0;
          return {
            amount: tokens.length,
            requests: [{ setupRequest: (request: AutocannonRequest) => ({ ...request, headers: { ...base, authorization: `Bearer ${tokens[next++ % tokens.length]}` } }) }],
          };
        },
      });
    }

    // ── measure: every repeatable scenario once per round, against fresh processes (a process's memory layout
    // alone moves its cost per request by a fifth on these machines), so ratios compare like with like ──
    const samples = new Map<Scenario, Sample[]>(scenarios.map((s) => [s, []]));
    const measure = async (scenario: Scenario, running: Running) => {
      samples.get(scenario)!.push(sample(await cannon(running.url, scenario.options(), running.child)));
    };
    const roles = [...new Set(scenarios.map((s) => s.role))];
    for (let round = 0; round < ROUNDS; round++) {
      const running = new Map<Role, Running>();
      for (const role of roles) running.set(role, await launch[role]());
      try {
        for (const scenario of scenarios) if (!scenario.once) await cannon(running.get(scenario.role)!.url, { ...scenario.options(), duration: WARMUP });
        for (const scenario of scenarios) if (!scenario.once) await measure(scenario, running.get(scenario.role)!);
        // seen once only, so measured once, in the last round
        if (round === ROUNDS - 1) for (const scenario of scenarios) if (scenario.once) await measure(scenario, running.get(scenario.role)!);
      } finally {
        await stop(running.values());
      }
      process.stdout.write(`round ${round + 1}/${ROUNDS} done\n`);
    }

    report(scenarios, samples);
  } finally {
    await Promise.all([...servers].map(stopServer));
    await idp.close();
  }
}

/**
 * Medians over rounds. "× bare" is throughput; "cpu × bare" is bare's server CPU per request over the
 * scenario's — the capacity ratio a saturated server shows, and the honest figure when the load generator
 * (same machine) is the bottleneck. Each ratio is taken within its round and then the median over rounds.
 */
function report(scenarios: readonly Scenario[], samples: ReadonlyMap<Scenario, readonly Sample[]>): void {
  const bare = samples.get(scenarios[0]!)!;
  const fmt = (n: number | undefined, digits = 0) => (n === undefined ? '-' : n.toFixed(digits));
  const lines = [['scenario', 'req/s', 'p50 ms', 'p99 ms', '× bare', 'cpu µs/req', 'cpu × bare', 'target', 'statuses / note']];
  const json: Record<string, unknown>[] = [];
  for (const scenario of scenarios) {
    const runs = samples.get(scenario)!;
    // a scenario measured once (first seen) is compared with the median bare round
    const pairs = runs.map((run, i) => [run, scenario.once ? undefined : bare[i]] as const);
    const bareRps = median(bare.map((b) => b.rps))!;
    const bareCpu = median(defined(bare.map((b) => b.cpuUs)));
    const ratio = median(pairs.map(([run, b]) => run.rps / (b?.rps ?? bareRps)));
    const cpuRatio = median(defined(pairs.map(([run, b]) => { const base = b?.cpuUs ?? bareCpu; return base === undefined || run.cpuUs === undefined ? undefined : base / run.cpuUs; })));
    const rps = median(runs.map((r) => r.rps));
    const cpuUs = median(defined(runs.map((r) => r.cpuUs)));
    const p50 = median(runs.map((r) => r.p50));
    const p99 = median(runs.map((r) => r.p99));
    const statuses: Record<string, number> = {};
    for (const run of runs) for (const [status, count] of Object.entries(run.statuses)) statuses[status] = (statuses[status] ?? 0) + count;
    const judged = cpuRatio ?? ratio;
    const verdict = scenario.target === undefined || judged === undefined ? '' : `≥${scenario.target} ${judged >= scenario.target ? 'ok' : 'MISSED'}`;
    const statusText = Object.entries(statuses).map(([s, c]) => `${s}×${c}`).join(' ');
    lines.push([scenario.name, fmt(rps), fmt(p50, 2), fmt(p99, 2), fmt(ratio, 2), fmt(cpuUs, 1), fmt(cpuRatio, 2), verdict, [statusText, scenario.note].filter(Boolean).join('; ')]);
    json.push({
      scenario: scenario.name,
      rounds: runs.length,
      rps,
      cpuUs,
      p50,
      p99,
      ratio: ratio === undefined ? undefined : +ratio.toFixed(3),
      cpuRatio: cpuRatio === undefined ? undefined : +cpuRatio.toFixed(3),
      cpuUsPerRound: runs.map((r) => (r.cpuUs === undefined ? undefined : +r.cpuUs.toFixed(1))),
      ...(scenario.target === undefined ? {} : { target: scenario.target }),
      statuses,
    });
  }
  const widths = lines[0]!.map((_, i) => Math.max(...lines.map((l) => l[i]!.length)));
  console.log('');
  for (const l of lines) console.log(l.map((cell, i) => (i === 0 || i === l.length - 1 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '));
  console.log(`\n${JSON.stringify({ bench: json })}`);
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
