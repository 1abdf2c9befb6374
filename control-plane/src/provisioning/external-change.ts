/**
 * Work done in an external system before the transaction that records it. The database transaction cannot
 * hold network calls (it would hold the state lock for as long as 3scale takes to answer), so a change is
 * made first and then mirrored; if the transaction then fails, or decides not to use the change (a
 * concurrent request created the key first), the change is undone. That is how a half-made provisioning
 * never stays behind.
 */
import { ProblemError } from '../problem-error.js';

export interface Settleable {
  /** Called once the transaction is over: `committed` false when it rolled back. Never throws. */
  settle(committed: boolean): Promise<void>;
}

export class ExternalChange<T> implements Settleable {
  #used = false;
  #settled = false;

  constructor(
    readonly value: T,
    /** Reverts the change; absent when there is nothing to revert (nothing was changed, or only read). */
    private readonly undo?: () => Promise<void>,
    /** Where an undo that fails is reported (it must then be recorded for reconciliation by `undo` itself). */
    private readonly onUndoFailure: (error: unknown) => void = () => undefined,
  ) {}

  /** The transaction takes the change: it will be kept if the transaction commits. */
  use(): T {
    this.#used = true;
    return this.value;
  }

  async settle(committed: boolean): Promise<void> {
    if (this.#settled) return;
    this.#settled = true;
    if ((committed && this.#used) || this.undo === undefined) return;
    try {
      await this.undo();
    } catch (error) {
      this.onUndoFailure(error);
    }
  }
}

/** A change that needs no undo: the builtin provisioner's, or a read-only preparation. */
export function noExternalChange<T>(value: T): ExternalChange<T> {
  return new ExternalChange(value);
}

/**
 * The prepared change a handler needs. It is missing only when the state moved between preparation and
 * the transaction (e.g. a key revoked meanwhile), which a retry resolves.
 */
export function takeChange<T>(change: ExternalChange<T> | undefined): T {
  if (change === undefined) throw new ProblemError('conflict', 'the resource changed while this request was being prepared; retry it');
  return change.use();
}
