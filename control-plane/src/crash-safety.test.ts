/**
 * A control plane killed with SIGKILL in the middle of creating a key leaves a whole key or nothing: after
 * the kill, the database (reopened, and for PGlite recovered from its files) holds no part of the key that
 * was being written, and every key whose creation was answered is whole.
 */
import { assert } from 'chai';
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Knex } from 'knex';
import { KeyHasher } from '../../authz-service/src/credentials/api-key/format.js';
import { parseConfig } from './config.js';
import { openDatabase } from './db/connection.js';
import { pepperSourceFor } from './pepper-source.js';
import { BACKENDS, freshStorage, type StorageHandle } from './testing/harness.js';

const CHILD = fileURLToPath(new URL('./testing/crash-child.ts', import.meta.url));

interface Child {
  readonly process: ChildProcess;
  /** Resolves with the rest of the first stdout line starting with `tag`. */
  line(tag: string): Promise<string>;
}

function startChild(env: Record<string, string>): Child {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', CHILD], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] });
  const waiting = new Map<string, (rest: string) => void>();
  const seen = new Map<string, string>();
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const [tag, ...rest] = line.split(' ');
    seen.set(tag!, rest.join(' '));
    waiting.get(tag!)?.(rest.join(' '));
  });
  return {
    process: child,
    line: (tag) =>
      new Promise((resolve, reject) => {
        if (seen.has(tag)) return resolve(seen.get(tag)!);
        waiting.set(tag, resolve);
        child.once('exit', (code) => reject(new Error(`child exited (${code}) before printing ${tag}`)));
      }),
  };
}

async function kill(child: Child): Promise<void> {
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.kill('SIGKILL');
  await exited;
}

async function call(port: string, key: string, method: string, path: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`, {
    method,
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: await res.json().catch(() => undefined) };
}

async function withDatabase<T>(storage: StorageHandle, work: (db: Knex, hasher: KeyHasher) => Promise<T>): Promise<T> {
  const parsed = parseConfig(storage.env);
  if (!parsed.ok) throw new Error(parsed.errors.join('; '));
  const db = await openDatabase(parsed.config.database);
  try {
    const hasher = new KeyHasher(await pepperSourceFor(parsed.config, db).load());
    return await work(db, hasher);
  } finally {
    await db.destroy();
  }
}

for (const backend of BACKENDS) {
  describe(`crash safety [${backend}]`, function () {
    this.timeout(180_000);
    let storage: StorageHandle;
    before(async () => {
      storage = await freshStorage(backend, 'crash');
    });
    after(async () => {
      await storage?.cleanup();
    });

    it('a key whose creation was killed mid-transaction leaves nothing; one that was answered is whole', async () => {
      // first life: bootstrap, set up, create one key completely, then die
      const first = startChild(storage.env);
      const adminKey = await first.line('BOOTSTRAP');
      const port = await first.line('LISTENING');
      const consumer = await call(port, adminKey, 'POST', '/v1/consumers', { name: 'Crash' });
      await call(port, adminKey, 'POST', '/v1/services', { name: 'llm', upstream_url: 'http://127.0.0.1:9', match: { path_prefix: '/llm' } });
      const whole = await call(port, adminKey, 'POST', '/v1/keys', { consumer_id: consumer.body.id, services: ['llm'] });
      assert.equal(whole.status, 201);
      await kill(first);

      // second life: pause inside the next key's transaction and die there
      const second = startChild({ ...storage.env, PORTCULLIS_TEST_PAUSE_IN_KEY_CREATE: '1' });
      const port2 = await second.line('LISTENING');
      const pending = call(port2, adminKey, 'POST', '/v1/keys', { consumer_id: consumer.body.id, services: ['llm'] }).catch(() => undefined);
      const halfKeyId = await second.line('PAUSED');
      await kill(second);
      assert.isUndefined(await pending, 'the client got no answer');

      await withDatabase(storage, async (db, hasher) => {
        assert.isUndefined(await db('api_keys').where({ id: halfKeyId }).first(), 'no key row');
        assert.lengthOf(await db('api_key_secrets').where({ key_id: halfKeyId }), 0, 'no secret');
        assert.lengthOf(await db('api_key_services').where({ key_id: halfKeyId }), 0, 'no services');
        assert.lengthOf(await db('audit_log').where({ resource_id: halfKeyId }), 0, 'no audit row');
        assert.lengthOf(await db('state_changes').where({ resource_id: halfKeyId }), 0, 'no revision');
        const secrets = (await db('api_key_secrets').where({ key_id: whole.body.id }).pluck('hash')) as string[];
        assert.deepEqual(secrets, [hasher.hash(whole.body.key)], 'the answered key is whole');
        assert.lengthOf(await db('api_key_services').where({ key_id: whole.body.id }), 1);
      });

      // third life: the store works on, and the first start's admin key was not printed again
      const third = startChild(storage.env);
      const bootstrapAgain = third.line('BOOTSTRAP').catch(() => undefined);
      const port3 = await third.line('LISTENING');
      try {
        const again = await call(port3, adminKey, 'POST', '/v1/keys', { consumer_id: consumer.body.id, services: ['llm'] });
        assert.equal(again.status, 201);
        const me = await call(port3, whole.body.key, 'GET', '/v1/me');
        assert.equal(me.status, 200);
        assert.isUndefined(await Promise.race([bootstrapAgain, new Promise((r) => setTimeout(r, 200))]), 'no second admin key');
      } finally {
        await kill(third);
      }
    });
  });
}
