/**
 * A Portcullis service as a separate process, started from its real entry point (TypeScript through tsx),
 * for tests that kill and restart services. Every child is tracked and SIGKILLed when the test process
 * exits, whichever way it exits, so a failing suite leaves nothing running on the shared machine.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { send } from './http.js';
import { waitFor } from './ports.js';

export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export interface ServiceProcessOptions {
  /** Repository-relative entry point: TypeScript (run through tsx), or a compiled `dist/….js`. */
  readonly entry: string;
  readonly env: Record<string, string>;
  /** Port whose `readyPath` must answer `readyStatus` before start() resolves. */
  readonly port: number;
  /** Default /readyz. */
  readonly readyPath?: string;
  readonly readyStatus?: number;
  readonly startTimeoutMs?: number;
}

export class ServiceProcess {
  #child: ChildProcess | undefined;
  /** The last lines the process wrote (stdout and stderr), for failure messages. */
  readonly output: string[] = [];

  constructor(
    readonly name: string,
    readonly options: ServiceProcessOptions,
  ) {}

  static async start(name: string, options: ServiceProcessOptions): Promise<ServiceProcess> {
    const service = new ServiceProcess(name, options);
    await service.start();
    return service;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Start (again), with the same environment and ports. */
  async start(): Promise<void> {
    if (this.#child) return;
    const args = this.options.entry.endsWith('.ts') ? ['--import', 'tsx', this.options.entry] : [this.options.entry];
    const child = spawn(process.execPath, args, {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '/tmp', ...this.options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.#child = child;
    running.add(child);
    const keep = (chunk: Buffer) => {
      for (const line of chunk.toString('utf8').split('\n')) if (line.trim() !== '') this.output.push(line);
      if (this.output.length > 200) this.output.splice(0, this.output.length - 200);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
    child.once('exit', () => {
      running.delete(child);
      if (this.#child === child) this.#child = undefined;
    });
    const expected = this.options.readyStatus ?? 200;
    const readyPath = this.options.readyPath ?? '/readyz';
    try {
      await waitFor(
        async () => {
          if (this.#child !== child) throw new Error(`${this.name} exited:\n${this.output.slice(-20).join('\n')}`);
          return (await send(this.options.port, { path: readyPath }).catch(() => ({ status: 0 }))).status === expected;
        },
        `${this.name} answering ${expected} on ${readyPath}`,
        this.options.startTimeoutMs ?? 60_000,
        50,
      );
    } catch (error) {
      await this.kill();
      throw error;
    }
  }

  /** SIGKILL: a crash, as the network sees it. */
  async kill(): Promise<void> {
    await this.#signal('SIGKILL');
  }

  /** SIGTERM and a graceful exit (SIGKILL after 10 s). */
  async stop(): Promise<void> {
    await this.#signal('SIGTERM', 10_000);
  }

  async #signal(signal: NodeJS.Signals, killAfterMs?: number): Promise<void> {
    const child = this.#child;
    if (!child) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill(signal);
    const timer = killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
    await exited;
    if (timer) clearTimeout(timer);
  }
}
