/**
 * One control-plane operation: a transaction, the caller, one timestamp, the state revision it takes and
 * the audit rows it writes. The HTTP layer opens it, domain code records what changed, and the audit rows
 * are written with the outcome inside the same transaction, so a change and its audit row commit or
 * vanish together.
 */
import type { Knex } from 'knex';
import type { Caller } from '../auth/actor.js';
import { insertAudit } from '../store/audit.js';
import { bumpRevision, lockRevisionRow, recordStateChange, type StateChange } from '../store/revision.js';

export interface AuditNote {
  readonly resourceType: string;
  readonly resourceId: string;
  /** Overrides the operation's action, for side effects (e.g. a consumer created on first login). */
  readonly action?: string;
  /** Before/after or a summary; never a secret or a hash. */
  readonly change?: unknown;
}

export class UnitOfWork {
  #revision: number | undefined;
  readonly #notes: AuditNote[] = [];

  constructor(
    readonly tx: Knex.Transaction,
    readonly caller: Caller,
    readonly action: string,
    readonly now: Date,
  ) {}

  /**
   * Declares that this operation changes the authorization state. The first call takes the next revision
   * and, with it, the lock that serialises state changes, so call it before reading what you validate.
   */
  async changesState(change: StateChange): Promise<number> {
    const revision = await this.lockState();
    await recordStateChange(this.tx, revision, change, this.now);
    return revision;
  }

  /** Takes the revision and its lock without recording a change yet (check-then-create under the lock). */
  async lockState(): Promise<number> {
    this.#revision ??= await bumpRevision(this.tx);
    return this.#revision;
  }

  /**
   * Holds the state lock without taking a revision, so a check that finds nothing to change leaves the
   * revision (and every data plane's copy of the state) alone. A later changesState takes the revision.
   */
  async holdStateLock(): Promise<void> {
    if (this.#revision === undefined) await lockRevisionRow(this.tx);
  }

  get revision(): number | undefined {
    return this.#revision;
  }

  audit(note: AuditNote): void {
    this.#notes.push(note);
  }

  /** Writes the audit rows for a successful operation; called by whoever opened the unit. */
  async finish(status: number): Promise<void> {
    const { actor, requestId, ip, userAgent } = this.caller;
    for (const note of this.#notes) {
      await insertAudit(this.tx, {
        at: this.now,
        actorKind: actor.kind,
        actorId: actor.id,
        ...(actor.consumerId !== undefined ? { actorConsumerId: actor.consumerId } : {}),
        action: note.action ?? this.action,
        resourceType: note.resourceType,
        resourceId: note.resourceId,
        outcome: 'success',
        status,
        requestId,
        ...(ip !== undefined ? { ip } : {}),
        ...(userAgent !== undefined ? { userAgent } : {}),
        ...(note.change !== undefined ? { change: note.change } : {}),
      });
    }
  }
}

export type Clock = () => number;

export type StateCommitListener = (revision: number) => void;
const commitListeners = new WeakMap<Knex, Set<StateCommitListener>>();

/**
 * Told after every committed unit of work that changed the state, in this process: the sync server's
 * wake-up when no other process can tell it (PGlite). Returns an unsubscribe function.
 */
export function onStateCommitted(db: Knex, listener: StateCommitListener): () => void {
  let listeners = commitListeners.get(db);
  if (!listeners) commitListeners.set(db, (listeners = new Set()));
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** Runs `work` in a transaction as one unit; audit rows are written with `status` before commit. */
export async function inUnitOfWork<T>(
  db: Knex,
  caller: Caller,
  action: string,
  clock: Clock,
  work: (uow: UnitOfWork) => Promise<{ status: number; value: T }>,
): Promise<{ status: number; value: T }> {
  let revision: number | undefined;
  const outcome = await db.transaction(async (tx) => {
    const uow = new UnitOfWork(tx, caller, action, new Date(clock()));
    const result = await work(uow);
    await uow.finish(result.status);
    revision = uow.revision;
    return result;
  });
  if (revision !== undefined) {
    for (const listener of commitListeners.get(db) ?? []) {
      try {
        listener(revision);
      } catch {
        // a listener's failure is not the caller's: the change is committed
      }
    }
  }
  return outcome;
}
