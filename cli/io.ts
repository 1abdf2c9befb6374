/**
 * Everything the CLI touches in its process: streams, environment, clock. Commands get it injected, so the
 * same code runs as the `portcullis` binary and inside a test.
 */
import { setTimeout as delay } from 'node:timers/promises';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Io {
  readonly env: Env;
  /** Data: tables, JSON documents, the one-time secret. */
  out(text: string): void;
  /** Everything else: progress, prompts, warnings, errors. */
  err(text: string): void;
  readonly stdin: NodeJS.ReadStream;
  /** Epoch milliseconds. */
  now(): number;
  sleep(ms: number): Promise<void>;
}

export function processIo(): Io {
  return {
    env: process.env,
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    stdin: process.stdin,
    now: Date.now,
    sleep: (ms) => delay(ms),
  };
}
