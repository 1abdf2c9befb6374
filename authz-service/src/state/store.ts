/**
 * Holds the active CompiledState. A load builds a complete new state off to the side and `swap` replaces
 * the reference in one assignment, so a request sees either the old state or the new one, never a mix.
 * Sources (the DB-less file, later the control plane's sync stream) call `swap`; readers call `current`.
 */
import type { CompiledState } from './compile.js';

export interface StateSnapshot {
  readonly state: CompiledState;
  /** Epoch ms when this state became active. */
  readonly loadedAtMs: number;
  /** Where it came from, for logs: a file path, "sync", "test". */
  readonly source: string;
}

export type StateListener = (next: StateSnapshot, previous: StateSnapshot | undefined) => void;

export class StateStore {
  #snapshot: StateSnapshot | undefined;
  readonly #listeners = new Set<StateListener>();
  readonly #now: () => number;

  constructor(now: () => number = Date.now) {
    this.#now = now;
  }

  /** The active state; undefined until the first successful load (the service is not ready then). */
  current(): CompiledState | undefined {
    return this.#snapshot?.state;
  }

  get snapshot(): StateSnapshot | undefined {
    return this.#snapshot;
  }

  get ready(): boolean {
    return this.#snapshot !== undefined;
  }

  swap(state: CompiledState, source: string): StateSnapshot {
    const previous = this.#snapshot;
    const next: StateSnapshot = Object.freeze({ state, loadedAtMs: this.#now(), source });
    this.#snapshot = next;
    for (const listener of this.#listeners) {
      try {
        listener(next, previous);
      } catch {
        // a broken listener (metrics, logs) must not undo or block a state change
      }
    }
    return next;
  }

  /** Returns an unsubscribe function. */
  onSwap(listener: StateListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }
}
