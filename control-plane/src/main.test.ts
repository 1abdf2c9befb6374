import { assert } from 'chai';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { freePort, waitFor } from '../../test/harness/ports.js';
import { freshStorage } from './testing/harness.js';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

function run(env: Record<string, string>) {
  const child = spawn(process.execPath, ['--import', 'tsx', '--no-warnings', MAIN], { env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, exited, out: () => stdout, err: () => stderr };
}

describe('control-plane main', function () {
  this.timeout(120_000);

  it('starts on the configured port, prints the first admin key once, and stops cleanly on SIGTERM', async () => {
    const storage = await freshStorage('pglite', 'main');
    const port = await freePort();
    const proc = run({ ...storage.env, PORTCULLIS_CONTROL_PLANE_PORT: String(port), PORTCULLIS_LOG_LEVEL: 'warn' });
    try {
      await waitFor(async () => (await fetch(`http://127.0.0.1:${port}/readyz`)).ok, 'control plane ready', 60_000, 200);
      const key = /\b(pc_[A-Za-z0-9]{36})\b/.exec(proc.out())?.[1];
      assert.exists(key, proc.out());
      const keys = await fetch(`http://127.0.0.1:${port}/v1/keys`, { headers: { authorization: `Bearer ${key}` } });
      assert.equal(keys.status, 200);
      proc.child.kill('SIGTERM');
      assert.equal(await proc.exited, 0, proc.err());
    } finally {
      proc.child.kill('SIGKILL');
      await storage.cleanup();
    }
  });

  it('refuses to start with a bad configuration, naming every problem', async () => {
    const proc = run({ PORTCULLIS_CONTROL_PLANE_PORT: 'eighty', PORTCULLIS_DATABASE_URL: 'postgres://db/x', PORTCULLIS_LOG_LEVEL: 'chatty' });
    assert.equal(await proc.exited, 2);
    for (const name of ['PORTCULLIS_CONTROL_PLANE_PORT', 'PORTCULLIS_KEY_PEPPER', 'PORTCULLIS_LOG_LEVEL']) assert.include(proc.err(), name);
  });
});
