/**
 * The state revision: bumped in the same transaction as every change to what the data plane knows. The
 * UPDATE takes a row lock, so state-changing transactions commit one after another in revision order,
 * and state_changes is an outbox a sync stream can follow without gaps.
 */
import type { Db } from './rows.js';
import { int } from './rows.js';

export interface StateChange {
  readonly resourceType: string;
  readonly resourceId: string;
  readonly action: string;
}

/** Takes the next revision (and the lock that orders state changes) for the calling transaction. */
export async function bumpRevision(tx: Db): Promise<number> {
  const rows = (await tx('state_revision').where({ id: 1 }).increment('revision', 1).returning('revision')) as { revision: string | number }[];
  return int(rows[0]!.revision);
}

/** The same lock as bumpRevision, without taking a revision: for work that may turn out to change nothing. */
export async function lockRevisionRow(tx: Db): Promise<void> {
  await tx('state_revision').where({ id: 1 }).forUpdate().first('revision');
}

export async function recordStateChange(tx: Db, revision: number, change: StateChange, at: Date): Promise<void> {
  await tx('state_changes')
    .insert({ revision, at, resource_type: change.resourceType, resource_id: change.resourceId, action: change.action })
    .onConflict(['revision', 'resource_type', 'resource_id'])
    .merge(['action']);
}

export async function currentRevision(db: Db): Promise<number> {
  const row = (await db('state_revision').where({ id: 1 }).first('revision')) as { revision: string | number } | undefined;
  return row ? int(row.revision) : 0;
}
