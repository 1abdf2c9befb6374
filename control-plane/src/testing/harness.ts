/**
 * Test support: a real control plane on a real database (a throw-away Postgres database or a PGlite
 * directory), listening on a free port, with an injectable clock and helpers to call it. Integration
 * suites run once per backend with `forEachBackend`, so both storage paths pass the same tests.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { PGlite } from '@electric-sql/pglite';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createTempDatabase, type TempDatabase } from '../../../test/harness/postgres.js';
import { parseConfig, type ControlPlaneConfig } from '../config.js';
import { createControlPlane, type ControlPlane, type ControlPlaneOptions } from '../control-plane.js';
import { PGLITE_DIR_NAME } from '../db/connection.js';
import { createLogger } from '../http/logger.js';

export type Backend = 'postgres' | 'pglite';
export const BACKENDS: readonly Backend[] = ['postgres', 'pglite'];

/** A clock tests can move: starts at real time, `advance` jumps forward. */
export class TestClock {
  #offsetMs = 0;
  readonly now = (): number => Date.now() + this.#offsetMs;
  advance(ms: number): void {
    this.#offsetMs += ms;
  }
}

export interface CallOptions {
  readonly body?: unknown;
  /** Sent as-is instead of JSON.stringify(body). */
  readonly rawBody?: string | Buffer;
  /** Bearer credential; `null` sends none. Default: the admin key. */
  readonly token?: string | null;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface Reply<T = any> {
  readonly status: number;
  readonly headers: Headers;
  readonly body: T;
  readonly text: string;
}

/** Collected log lines, to prove what is (not) logged. */
export class LogCapture extends Writable {
  readonly lines: string[] = [];
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.lines.push(chunk.toString('utf8'));
    done();
  }
  get text(): string {
    return this.lines.join('');
  }
}

export interface Harness {
  readonly backend: Backend;
  readonly cp: ControlPlane;
  readonly config: ControlPlaneConfig;
  readonly baseUrl: string;
  /** The bootstrap admin key the first start printed. */
  readonly adminKey: string;
  readonly clock: TestClock;
  readonly logs: LogCapture;
  call<T = any>(method: string, urlPath: string, options?: CallOptions): Promise<Reply<T>>;
  close(): Promise<void>;
}

export interface StorageHandle {
  readonly env: Record<string, string>;
  cleanup(): Promise<void>;
}

let pgliteTemplate: Promise<string> | undefined;

/**
 * PGlite's initdb takes seconds; it runs once per test process into a template directory that each test
 * database is copied from (copying is a fraction of that). The copy is an unmigrated, never-used cluster,
 * exactly what a first start finds.
 */
function pgliteTemplateDir(): Promise<string> {
  pgliteTemplate ??= (async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pc-cp-pglite-template-'));
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const db = new PGlite(path.join(dir, PGLITE_DIR_NAME));
    await db.waitReady;
    await db.close();
    return dir;
  })();
  return pgliteTemplate;
}

/** Fresh storage for one control plane: a new Postgres database or a new PGlite directory. */
export async function freshStorage(backend: Backend, label: string): Promise<StorageHandle> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), `pc-cp-${label}-`));
  if (backend === 'pglite') {
    await cp(path.join(await pgliteTemplateDir(), PGLITE_DIR_NAME), path.join(dataDir, PGLITE_DIR_NAME), { recursive: true });
    return { env: { PORTCULLIS_DATA_DIR: dataDir }, cleanup: () => rm(dataDir, { recursive: true, force: true }) };
  }
  const database: TempDatabase = await createTempDatabase(label);
  return {
    env: { PORTCULLIS_DATA_DIR: dataDir, PORTCULLIS_DATABASE_URL: database.url, PORTCULLIS_KEY_PEPPER: randomBytes(32).toString('base64url') },
    async cleanup() {
      await database.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export async function startHarness(backend: Backend, label: string, options: ControlPlaneOptions & { env?: Record<string, string> } = {}): Promise<Harness> {
  const storage = await freshStorage(backend, label);
  const parsed = parseConfig({ ...storage.env, PORTCULLIS_LOG_LEVEL: 'info', ...options.env });
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const clock = new TestClock();
  const logs = new LogCapture();
  let adminKey = '';
  const cp = await createControlPlane(parsed.config, {
    clock: clock.now,
    logger: createLogger('info', logs),
    announce: (message) => {
      adminKey = /\b(pc_[A-Za-z0-9]{36})\b/.exec(message)?.[1] ?? '';
    },
    ...options,
  });
  const server = await cp.listen(0, '127.0.0.1');
  const baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    backend,
    cp,
    config: parsed.config,
    baseUrl,
    adminKey,
    clock,
    logs,
    async call(method, urlPath, call = {}) {
      const headers: Record<string, string> = { ...call.headers };
      const token = call.token === undefined ? adminKey : call.token;
      if (token !== null && headers['authorization'] === undefined) headers['authorization'] = `Bearer ${token}`;
      let body: string | Buffer | undefined = call.rawBody;
      if (body === undefined && call.body !== undefined) body = JSON.stringify(call.body);
      if (body !== undefined && headers['content-type'] === undefined) headers['content-type'] = 'application/json';
      const res = await fetch(baseUrl + urlPath, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      let parsedBody: unknown = text;
      if (/json/.test(res.headers.get('content-type') ?? '') && text !== '') parsedBody = JSON.parse(text);
      return { status: res.status, headers: res.headers, body: parsedBody as any, text };
    },
    async close() {
      await cp.close(1000);
      await storage.cleanup();
    },
  };
}

/**
 * Declares one describe block per backend, with a harness started before and closed after it. Tests
 * read the harness through the getter, since it exists only once `before` has run.
 */
export function forEachBackend(title: string, body: (harness: () => Harness) => void, options?: ControlPlaneOptions & { env?: Record<string, string> }): void {
  for (const backend of BACKENDS) {
    describe(`${title} [${backend}]`, function () {
      this.timeout(120_000);
      let harness: Harness | undefined;
      before(async () => {
        harness = await startHarness(backend, title.toLowerCase().replace(/[^a-z0-9]+/g, '_').slice(0, 20), options);
      });
      after(async () => {
        await harness?.close();
      });
      body(() => {
        if (!harness) throw new Error('harness not started');
        return harness;
      });
    });
  }
}
