/**
 * Real nginx (Debian's, with auth_request) for end-to-end tests: a throw-away prefix directory, a config
 * written there, `daemon off` so the process is ours to stop, free ports chosen by the caller.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NginxMainOptions } from '../../control-plane/src/gateway/nginx.js';
import { waitFor } from './ports.js';

export const NGINX_BINARY = process.env['PORTCULLIS_TEST_NGINX'] ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx');

/** Main-context options for a config living in `prefix` (pid, logs and temp files inside it). */
export function nginxMainOptions(prefix: string): NginxMainOptions {
  return {
    pidFile: join(prefix, 'nginx.pid'),
    errorLog: join(prefix, 'error.log'),
    tempDir: join(prefix, 'tmp'),
    workerProcesses: 1,
    // as root, nginx would switch its workers to "nobody", who cannot use our temp directories
    ...(process.getuid?.() === 0 ? { user: 'root' } : {}),
  };
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

/** nginx masters still running; told to stop (SIGTERM: fast shutdown, workers included) when the test process exits. */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGTERM');
});

export class NginxProcess {
  #child: ChildProcess | undefined;
  private constructor(
    readonly prefix: string,
    readonly port: number,
  ) {}

  /** Write `config(prefix)` to a fresh prefix, validate it with `nginx -t`, start nginx and wait for `port`. */
  static async start(config: (prefix: string) => string, port: number): Promise<NginxProcess> {
    const prefix = mkdtempSync(join(tmpdir(), 'pc-nginx-'));
    mkdirSync(join(prefix, 'tmp'), { recursive: true });
    const confPath = join(prefix, 'nginx.conf');
    writeFileSync(confPath, config(prefix));
    const args = ['-p', prefix, '-c', confPath, '-e', join(prefix, 'error.log')];
    const check = spawnSync(NGINX_BINARY, [...args, '-t', '-q'], { encoding: 'utf8' });
    if (check.status !== 0) throw new Error(`nginx rejected the config:\n${check.stderr}\n--- ${confPath}`);
    const nginx = new NginxProcess(prefix, port);
    const child = spawn(NGINX_BINARY, [...args, '-g', 'daemon off;'], { stdio: ['ignore', 'ignore', 'pipe'] });
    nginx.#child = child;
    running.add(child);
    child.once('exit', () => running.delete(child));
    let stderr = '';
    child.stderr?.on('data', (d) => (stderr += String(d)));
    let exited = false;
    child.once('exit', () => (exited = true));
    await waitFor(async () => {
      if (exited) throw new Error(`nginx exited: ${stderr}`);
      return accepts(port);
    }, `nginx on port ${port}`);
    return nginx;
  }

  errorLog(): string {
    const path = join(this.prefix, 'error.log');
    return existsSync(path) ? readFileSync(path, 'utf8') : '';
  }

  /** SIGQUIT: graceful; then remove the prefix directory. */
  async stop(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (child && child.exitCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGQUIT');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.prefix, { recursive: true, force: true });
  }
}
