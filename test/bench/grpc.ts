/**
 * ext_authz Check over gRPC against a bare grpc-js unary server, in the same run: throughput, p50/p99 and the
 * server's CPU time per call, and the throughput ratio (target ≥ 0.8×).
 *
 *   node --import tsx test/bench/grpc.ts [--seconds 3] [--channels 4] [--concurrency 16]
 *
 * - Both servers load the same official protos the same way and run in one child process, measured one
 *   after the other, so they get the same CPU. The Check server runs the real decision pipeline (API key in
 *   a header, in-memory buckets with room to spare); the bare one answers a constant OK.
 * - The load generator keeps `concurrency` calls in flight on each of `channels` separate connections and
 *   sends a request encoded once, without decoding answers (one decoded per phase proves they are OK), so
 *   that the client spends as little CPU as possible. A Node client can still be the bottleneck on two cores,
 *   most for the bare server; the server CPU per call is the figure that does not depend on the client.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, credentials, Metadata, Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { ApiKeyResolver } from '../../authz-service/src/credentials/api-key/resolver.js';
import { generateApiKey, KeyHasher } from '../../authz-service/src/credentials/api-key/format.js';
import { PipelineEngine } from '../../authz-service/src/core/pipeline.js';
import { MemoryRateLimiter } from '../../authz-service/src/limits/memory-limiter.js';
import { compileState } from '../../authz-service/src/state/compile.js';
import type { CheckRequestMessage } from '../../authz-service/src/grpc/ext-authz-messages.js';
import { loadExtAuthzDefinition, loadGrpcPackage, lookupGrpc } from '../../authz-service/src/grpc/protos.js';
import { EXT_AUTHZ_SERVICE, startExtAuthzServer } from '../../authz-service/src/grpc/server.js';

const CHECK_PATH = `/${EXT_AUTHZ_SERVICE}/Check`;

export interface GrpcBenchOptions {
  readonly seconds: number;
  readonly warmupSeconds: number;
  readonly channels: number;
  readonly concurrency: number;
}

export interface PhaseResult {
  readonly name: string;
  readonly calls: number;
  readonly errors: number;
  readonly rps: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  /** Server process CPU (user + system) per call. */
  readonly serverCpuUsPerCall: number;
}

export interface GrpcBenchResult {
  readonly bare: PhaseResult;
  readonly check: PhaseResult;
  /** check rps / bare rps */
  readonly ratio: number;
}

// ── server side (child process) ──────────────────────────────────────────────────────────────────────────

interface ServerReady {
  readonly bare: number;
  readonly check: number;
  readonly apiKey: string;
}

async function serve(): Promise<void> {
  const hasher = new KeyHasher('bench-pepper-0123456789abcdef-0123456789');
  const { key } = generateApiKey('pc');
  const compiled = compileState({
    plans: [{ name: 'bench', limits: [{ window: '1s', requests: 1_000_000_000 }] }],
    services: [{ name: 'llm', upstream_urls: ['http://127.0.0.1:9'], match: { host: 'api.example.com', path_prefix: '/v1' }, plan: 'bench' }],
    consumers: [{ id: 'c-bench', name: 'bench' }],
    keys: [{ id: 'k-bench', consumer_id: 'c-bench', secrets: [{ hash: hasher.hash(key) }] }],
  });
  if (!compiled.ok) throw new Error(compiled.errors.join('\n'));
  const state = compiled.state;
  const engine = new PipelineEngine({ state: () => state, resolvers: [new ApiKeyResolver({ hasher })], limiter: new MemoryRateLimiter() });
  const check = await startExtAuthzServer({ engine, port: 0, host: '127.0.0.1' });

  // the baseline: same proto loading, a handler that does nothing but answer OK
  const bare = new Server();
  const definition = (lookupGrpc(loadGrpcPackage(loadExtAuthzDefinition()), EXT_AUTHZ_SERVICE) as { service: ServiceDefinition }).service;
  const ok = { status: { code: 0 } };
  const handlers: UntypedServiceImplementation = { Check: (_call: unknown, callback: (e: null, r: unknown) => void) => callback(null, ok) };
  bare.addService(definition, handlers);
  const barePort = await new Promise<number>((resolve, reject) =>
    bare.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (error, port) => (error ? reject(error) : resolve(port))),
  );

  process.on('message', (message: string) => {
    if (message === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send!({ cpuUs: user + system });
    } else if (message === 'stop') {
      bare.forceShutdown();
      void check.close().then(() => process.exit(0));
    }
  });
  process.send!({ bare: barePort, check: check.port, apiKey: key } satisfies ServerReady);
}

// ── load generator (parent) ──────────────────────────────────────────────────────────────────────────────

function request(apiKey: string): CheckRequestMessage {
  const path = '/v1/chat/completions';
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.9', port_value: 50123 } } },
      request: {
        http: {
          id: '12345678901234567890',
          method: 'POST',
          path,
          host: 'api.example.com',
          scheme: 'https',
          protocol: 'HTTP/1.1',
          headers: {
            ':authority': 'api.example.com',
            ':path': path,
            ':method': 'POST',
            ':scheme': 'https',
            'x-api-key': apiKey,
            'content-type': 'application/json',
            'content-length': '512',
            accept: 'application/json',
            'user-agent': 'openai-python/1.40.0',
            'x-request-id': '4f7c2b1e-8f7a-4d5e-9a8b-0c1d2e3f4a5b',
            'x-forwarded-proto': 'https',
          },
        },
      },
    },
  };
}

const percentile = (sorted: Float64Array, p: number) => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? Number.NaN;

async function serverCpuUs(child: ChildProcess): Promise<number> {
  child.send('cpu');
  const [reply] = (await once(child, 'message')) as [{ cpuUs: number }];
  return reply.cpuUs;
}

async function phase(name: string, port: number, encoded: Buffer, options: GrpcBenchOptions, child: ChildProcess, seconds: number): Promise<PhaseResult> {
  const clients = Array.from(
    { length: options.channels },
    // a local subchannel pool per client: each channel is its own connection
    () => new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 }),
  );
  const identity = (b: Buffer) => b;
  const metadata = new Metadata();
  const latencies: number[] = [];
  let errors = 0;
  let sample: Buffer | undefined;
  const cpuBefore = await serverCpuUs(child);
  const started = performance.now();
  const deadline = started + seconds * 1000;
  const loop = (client: Client) =>
    new Promise<void>((resolve) => {
      const next = (): void => {
        const t0 = performance.now();
        if (t0 >= deadline) return resolve();
        client.makeUnaryRequest(CHECK_PATH, identity, identity, encoded, metadata, {}, (error, response) => {
          if (error) errors++;
          else sample ??= response;
          latencies.push(performance.now() - t0);
          next();
        });
      };
      next();
    });
  await Promise.all(clients.flatMap((client) => Array.from({ length: options.concurrency }, () => loop(client))));
  const elapsed = (performance.now() - started) / 1000;
  const cpuAfter = await serverCpuUs(child);
  for (const client of clients) client.close();
  const sorted = Float64Array.from(latencies).sort();
  if (sample === undefined) throw new Error(`${name}: no successful call`);
  return {
    name,
    calls: latencies.length,
    errors,
    rps: latencies.length / elapsed,
    p50Ms: percentile(sorted, 0.5),
    p99Ms: percentile(sorted, 0.99),
    serverCpuUsPerCall: (cpuAfter - cpuBefore) / Math.max(1, latencies.length),
  };
}

export async function runGrpcBench(options: GrpcBenchOptions): Promise<GrpcBenchResult> {
  const child = fork(fileURLToPath(import.meta.url), ['--serve'], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  try {
    const [ready] = (await once(child, 'message')) as [ServerReady];
    const methods = lookupGrpc(loadGrpcPackage(loadExtAuthzDefinition()), EXT_AUTHZ_SERVICE) as {
      service: { Check: { requestSerialize(value: unknown): Buffer; responseDeserialize(buffer: Buffer): { status?: { code?: number } } } };
    };
    const encoded = methods.service.Check.requestSerialize(request(ready.apiKey));
    // prove the Check server allows this request, or the benchmark would measure denials
    const probe = new Client(`127.0.0.1:${ready.check}`, credentials.createInsecure());
    const answer = await new Promise<Buffer>((resolve, reject) =>
      probe.makeUnaryRequest(CHECK_PATH, (b: Buffer) => b, (b: Buffer) => b, encoded, new Metadata(), {}, (e, r) => (e ? reject(e) : resolve(r!))),
    );
    probe.close();
    const decoded = methods.service.Check.responseDeserialize(answer);
    if ((decoded.status?.code ?? 0) !== 0) throw new Error(`the Check server denied the benchmark request: ${JSON.stringify(decoded)}`);

    await phase('warmup bare', ready.bare, encoded, options, child, options.warmupSeconds);
    await phase('warmup check', ready.check, encoded, options, child, options.warmupSeconds);
    const bare = await phase('bare grpc-js unary', ready.bare, encoded, options, child, options.seconds);
    const check = await phase('ext_authz Check (API key)', ready.check, encoded, options, child, options.seconds);
    return { bare, check, ratio: check.rps / bare.rps };
  } finally {
    child.send('stop');
    await Promise.race([once(child, 'exit'), new Promise((r) => setTimeout(r, 3_000))]);
    if (child.exitCode === null) child.kill();
  }
}

export function formatGrpcBench(result: GrpcBenchResult, options: GrpcBenchOptions): string {
  const row = (p: PhaseResult) =>
    `${p.name.padEnd(28)} ${p.rps.toFixed(0).padStart(8)} rps  p50 ${p.p50Ms.toFixed(3).padStart(7)} ms  p99 ${p.p99Ms.toFixed(3).padStart(7)} ms  ` +
    `server ${p.serverCpuUsPerCall.toFixed(1).padStart(6)} µs CPU/call  ${p.calls} calls, ${p.errors} errors`;
  return [
    `gRPC ext_authz vs bare grpc-js (${options.channels} channels × ${options.concurrency} in flight, ${options.seconds}s per phase)`,
    row(result.bare),
    row(result.check),
    `ratio (Check / bare throughput): ${result.ratio.toFixed(2)}×  (target ≥ 0.80×)` +
      `; server CPU per call: ${(result.check.serverCpuUsPerCall / result.bare.serverCpuUsPerCall).toFixed(2)}× the bare server's`,
  ].join('\n');
}

const invokedDirectly = process.argv[1] === fileURLToPath(import.meta.url);
if (invokedDirectly && process.argv.includes('--serve')) {
  await serve();
} else if (invokedDirectly) {
  const { values } = parseArgs({
    options: { seconds: { type: 'string', default: '3' }, channels: { type: 'string', default: '4' }, concurrency: { type: 'string', default: '16' } },
  });
  const options: GrpcBenchOptions = { seconds: Number(values.seconds), warmupSeconds: 1, channels: Number(values.channels), concurrency: Number(values.concurrency) };
  console.log(formatGrpcBench(await runGrpcBench(options), options));
}
