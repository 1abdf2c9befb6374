/**
 * Audit rows for failed and refused requests, coalesced per caller and kind of refusal.
 *
 * Each failed mutation and each 401/403 should be audited, but one INSERT per attempt lets anyone who can
 * reach the API grow the append-only audit_log as fast as they can send requests, and bury real events.
 * So attempts are grouped by key: who (the actor when authenticated, else the client address), action,
 * status and code.
 * - The first attempt of a key is written at once, as its own row with its own request id, so the audit
 *   shows a refusal as soon as it happens.
 * - Repeats within the window that attempt opened are only counted in memory.
 * - Once the window has closed (found by a periodic sweep or by the key's next attempt), or when the
 *   control plane shuts down, one summary row records how many repeats there were and when.
 * Memory is bounded: once `maxKeys` callers are tracked, a new caller's attempts go to one overflow key
 * per action, status and code. Each caller key lives for at least a window, so a window adds at most
 * about 2 x maxKeys rows, plus two per overflow key, however fast requests arrive.
 */
import type { Logger } from 'pino';
import type { Counter } from 'prom-client';
import { VARIOUS_CALLERS, type Caller } from '../auth/actor.js';
import type { Db } from '../store/rows.js';
import { recordFailure, type FailedAttempt } from './audit-trail.js';
import type { Clock } from './unit-of-work.js';

export const DEFAULT_REFUSAL_WINDOW_MS = 60_000;
export const DEFAULT_REFUSAL_MAX_KEYS = 10_000;
/** How often closed windows are looked for (real time), so a summary can be up to this much late. */
const SWEEP_INTERVAL_MS = 5_000;

export interface RefusalLimits {
  /** How long a first attempt's repeats are counted before they are summed up in one row. */
  readonly windowMs?: number;
  /** Callers tracked apart; the ones beyond share overflow keys. */
  readonly maxKeys?: number;
}

export interface RefusalCoalescerOptions extends RefusalLimits {
  readonly db: Db;
  readonly clock: Clock;
  readonly logger: Logger;
  /** Incremented for every attempt, coalesced or not. */
  readonly counter?: Counter<'action' | 'status' | 'code'>;
}

/** The `change` of a summary row. */
export interface RepeatSummary {
  readonly repeated: number;
  readonly first_at: string;
  readonly last_at: string;
  /** Present when the repeats came from callers beyond the tracked ones (the row's actor is then 'various'). */
  readonly overflow?: true;
}

interface Window {
  readonly endsAt: number;
  /** The attempt that opened the window (it has its own row already). */
  readonly first: FailedAttempt;
  readonly overflow: boolean;
  repeated: number;
  firstRepeatAt: Date;
  lastRepeatAt: Date;
  /** Who made the last repeat: the summary row carries its request id, address and user agent. */
  lastCaller: Caller;
  /** The resource every repeat named; null once they named different ones. */
  resourceId: string | undefined | null;
}

interface Row {
  readonly caller: Caller;
  readonly attempt: FailedAttempt;
  readonly change?: RepeatSummary;
}

export class RefusalCoalescer {
  readonly #db: Db;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #counter: Counter<'action' | 'status' | 'code'> | undefined;
  readonly #windowMs: number;
  readonly #maxKeys: number;
  /** Per caller; insertion-ordered, at most maxKeys entries. */
  readonly #callers = new Map<string, Window>();
  /** Per action, status and code, for callers beyond maxKeys; bounded by the routes and error codes. */
  readonly #overflow = new Map<string, Window>();
  readonly #writing = new Set<Promise<void>>();
  readonly #sweep: NodeJS.Timeout;
  #closed = false;

  constructor(options: RefusalCoalescerOptions) {
    this.#db = options.db;
    this.#clock = options.clock;
    this.#logger = options.logger;
    this.#counter = options.counter;
    this.#windowMs = options.windowMs ?? DEFAULT_REFUSAL_WINDOW_MS;
    this.#maxKeys = options.maxKeys ?? DEFAULT_REFUSAL_MAX_KEYS;
    // a very short window (tests) must not turn the sweep into a busy loop
    this.#sweep = setInterval(() => void this.flushExpired(), Math.max(100, Math.min(SWEEP_INTERVAL_MS, this.#windowMs)));
    // a pending summary must not keep a process alive that is otherwise done; close() writes it
    this.#sweep.unref();
  }

  /** Windows open now: callers tracked apart, and overflow keys. */
  get tracked(): { readonly callers: number; readonly overflow: number } {
    return { callers: this.#callers.size, overflow: this.#overflow.size };
  }

  /**
   * Audits one failed or refused attempt. Resolves once the rows it causes (a first attempt, the summary
   * of the key's closed window) are written; a repeat writes nothing. Write errors are logged, never thrown:
   * the caller is answering a request that failed already.
   */
  async record(caller: Caller, attempt: FailedAttempt): Promise<void> {
    this.#counter?.inc({ action: attempt.action, status: String(attempt.status), code: attempt.code });
    if (this.#closed) {
      // nothing would write a summary any more
      await this.#write([{ caller, attempt }]);
      return;
    }
    const now = attempt.at.getTime();
    const rows: Row[] = [];
    const { windows, key } = this.#place(caller, attempt, now, rows);
    const window = windows.get(key);
    if (window) {
      window.resourceId = window.repeated === 0 || window.resourceId === attempt.resourceId ? attempt.resourceId : null;
      window.repeated += 1;
      if (window.repeated === 1) window.firstRepeatAt = attempt.at;
      window.lastRepeatAt = attempt.at;
      window.lastCaller = caller;
    } else {
      windows.set(key, {
        endsAt: now + this.#windowMs,
        first: attempt,
        overflow: windows === this.#overflow,
        repeated: 0,
        firstRepeatAt: attempt.at,
        lastRepeatAt: attempt.at,
        lastCaller: caller,
        resourceId: undefined,
      });
      rows.push({ caller, attempt });
    }
    if (rows.length > 0) await this.#write(rows);
  }

  /** Writes the summaries of every window that has closed by the clock; resolves when all writes are done. */
  async flushExpired(): Promise<void> {
    const now = this.#clock();
    await this.#flush((window) => now >= window.endsAt);
  }

  /** Stops the sweep and writes the summaries of all windows, closed or not (graceful shutdown). */
  async close(): Promise<void> {
    this.#closed = true;
    clearInterval(this.#sweep);
    await this.#flush(() => true);
  }

  /** The map and key an attempt counts under, first writing the summary of its key's window if it has closed. */
  #place(caller: Caller, attempt: FailedAttempt, now: number, rows: Row[]): { windows: Map<string, Window>; key: string } {
    const who = caller.actor.kind === 'anonymous' ? ['ip', caller.ip ?? ''] : ['actor', caller.actor.id];
    const own = JSON.stringify([...who, attempt.action, attempt.status, attempt.code]);
    this.#closeIfOver(this.#callers, own, now, rows);
    if (this.#callers.has(own) || this.#callers.size < this.#maxKeys) return { windows: this.#callers, key: own };
    const shared = JSON.stringify([attempt.action, attempt.status, attempt.code]);
    this.#closeIfOver(this.#overflow, shared, now, rows);
    return { windows: this.#overflow, key: shared };
  }

  #closeIfOver(windows: Map<string, Window>, key: string, now: number, rows: Row[]): void {
    const window = windows.get(key);
    if (window !== undefined && now >= window.endsAt) retire(windows, key, window, rows);
  }

  async #flush(due: (window: Window) => boolean): Promise<void> {
    const rows: Row[] = [];
    for (const windows of [this.#callers, this.#overflow]) {
      for (const [key, window] of windows) {
        if (due(window)) retire(windows, key, window, rows);
      }
    }
    if (rows.length > 0) void this.#write(rows);
    // also waits for writes started elsewhere (a request's, the sweep's), so "flushed" means written
    await Promise.all(this.#writing);
  }

  /** Inserts rows one after another, so a summary gets a lower id than the first attempt of the next window. */
  #write(rows: readonly Row[]): Promise<void> {
    const writing = (async () => {
      for (const row of rows) {
        await recordFailure(this.#db, row.caller, row.attempt, row.change).catch((error: unknown) =>
          this.#logger.error({ err: error, requestId: row.caller.requestId }, 'could not write the audit row of a failed request'),
        );
      }
    })();
    this.#writing.add(writing);
    void writing.finally(() => this.#writing.delete(writing));
    return writing;
  }
}

/** Ends a window: forgotten, and summed up in a row when anything repeated in it. */
function retire(windows: Map<string, Window>, key: string, window: Window, rows: Row[]): void {
  windows.delete(key);
  if (window.repeated > 0) rows.push(summaryRow(window));
}

function summaryRow(window: Window): Row {
  const { first, lastCaller } = window;
  const change: RepeatSummary = {
    repeated: window.repeated,
    first_at: window.firstRepeatAt.toISOString(),
    last_at: window.lastRepeatAt.toISOString(),
    ...(window.overflow ? { overflow: true as const } : {}),
  };
  return {
    // an overflow summary stands for many callers, so it names none of them, nor an address
    caller: window.overflow ? { actor: VARIOUS_CALLERS, requestId: lastCaller.requestId } : lastCaller,
    attempt: {
      action: first.action,
      status: first.status,
      code: first.code,
      at: window.lastRepeatAt,
      ...(first.resourceType !== undefined ? { resourceType: first.resourceType } : {}),
      ...(typeof window.resourceId === 'string' ? { resourceId: window.resourceId } : {}),
    },
    change,
  };
}
