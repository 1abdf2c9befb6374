/**
 * The `portcullis` CLI as a child process (`node --import tsx cli/main.ts …`), so exit codes, stdout and
 * stderr are the real ones. The environment is only what the test passes (plus PATH), so nothing from
 * the developer's shell or config directory leaks in.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export class CliProcess {
  stdout = '';
  stderr = '';
  readonly done: Promise<CliResult>;
  readonly #child: ChildProcess;

  constructor(args: readonly string[], env: Readonly<Record<string, string>>, stdin?: string) {
    this.#child = spawn(process.execPath, ['--import', 'tsx', path.join(REPO_ROOT, 'cli', 'main.ts'), ...args], {
      cwd: REPO_ROOT,
      env: { PATH: process.env['PATH'] ?? '/usr/bin:/bin', NODE_NO_WARNINGS: '1', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.#child.stdout!.on('data', (chunk: Buffer) => (this.stdout += chunk.toString('utf8')));
    this.#child.stderr!.on('data', (chunk: Buffer) => (this.stderr += chunk.toString('utf8')));
    this.#child.stdin!.end(stdin ?? '');
    this.done = new Promise((resolve, reject) => {
      this.#child.on('error', reject);
      this.#child.on('close', (code) => resolve({ code, stdout: this.stdout, stderr: this.stderr }));
    });
  }

  /** Resolves with the first match of `pattern` in stderr (e.g. the verification link the CLI prints). */
  async waitForStderr(pattern: RegExp, timeoutMs = 20_000): Promise<RegExpMatchArray> {
    const deadline = Date.now() + timeoutMs;
    let exited = false;
    void this.done.then(() => (exited = true));
    for (;;) {
      const match = this.stderr.match(pattern);
      if (match) return match;
      if (exited || Date.now() > deadline) throw new Error(`CLI never printed ${pattern} on stderr; stderr was:\n${this.stderr}\nstdout was:\n${this.stdout}`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  kill(): void {
    this.#child.kill('SIGKILL');
  }
}

export function runCli(args: readonly string[], env: Readonly<Record<string, string>>, stdin?: string): Promise<CliResult> {
  return new CliProcess(args, env, stdin).done;
}
