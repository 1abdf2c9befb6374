/**
 * How stale a synced replica's state may be: seconds since the control plane was last heard from (any
 * message, heartbeats included; they come every few seconds while the stream is up). A state restored from
 * disk carries the contact time it was saved with, so a restart does not make an old state look fresh.
 *
 * Past the maximum the replica reports itself stale; whether it then still decides (serve) or answers 503
 * `state_stale` and goes unready (refuse) is the deployment's choice.
 */
import type { StaleMode } from './config.js';

export interface StalenessOptions {
  readonly maxSeconds: number;
  readonly mode: StaleMode;
  readonly clock?: () => number;
}

export class Staleness {
  readonly maxSeconds: number;
  readonly mode: StaleMode;
  readonly #clock: () => number;
  #contactMs: number | undefined;

  constructor(options: StalenessOptions) {
    this.maxSeconds = options.maxSeconds;
    this.mode = options.mode;
    this.#clock = options.clock ?? Date.now;
  }

  /** Heard from the control plane at `atMs` (default now); never moves back. */
  contact(atMs = this.#clock()): void {
    if (this.#contactMs === undefined || atMs > this.#contactMs) this.#contactMs = atMs;
  }

  /** Epoch ms of the last contact, if any. */
  get contactMs(): number | undefined {
    return this.#contactMs;
  }

  /** Seconds since the last contact; undefined before any. */
  seconds(): number | undefined {
    return this.#contactMs === undefined ? undefined : Math.max(0, (this.#clock() - this.#contactMs) / 1000);
  }

  isStale(): boolean {
    const s = this.seconds();
    return s === undefined || s > this.maxSeconds;
  }

  /** True when decisions must be refused: stale, and the deployment chose to fail closed. */
  refuses(): boolean {
    return this.mode === 'refuse' && this.isStale();
  }
}
