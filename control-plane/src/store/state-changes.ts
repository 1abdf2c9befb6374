/**
 * Reading and pruning the state change log (`state_changes`), for the sync server. Rows are written by
 * revision.ts inside each state-changing transaction.
 */
import { randomUUID } from 'node:crypto';
import { claimMeta } from './meta.js';
import { int, type Db } from './rows.js';

export interface ChangeRow {
  readonly revision: number;
  readonly resourceType: string;
  readonly resourceId: string;
  readonly action: string;
}

/** Changes with since < revision <= through, in revision order; at most `limit`. */
export async function changesBetween(db: Db, since: number, through: number, limit: number): Promise<ChangeRow[]> {
  const rows = (await db('state_changes')
    .where('revision', '>', since)
    .andWhere('revision', '<=', through)
    .orderBy('revision')
    .limit(limit)
    .select('revision', 'resource_type', 'resource_id', 'action')) as { revision: string | number; resource_type: string; resource_id: string; action: string }[];
  return rows.map((r) => ({ revision: int(r.revision), resourceType: r.resource_type, resourceId: r.resource_id, action: r.action }));
}

/** Changes up to this revision may be gone from the log. */
export async function prunedThrough(db: Db): Promise<number> {
  const row = (await db('state_change_horizon').where({ id: 1 }).first('pruned_through')) as { pruned_through: string | number } | undefined;
  return row ? int(row.pruned_through) : 0;
}

/**
 * Deletes changes recorded before `before` and moves the horizon past them, in one transaction. Safe to
 * run from every control-plane replica at once. Returns how many rows went.
 */
export async function pruneChanges(db: Db, before: Date): Promise<number> {
  return db.transaction(async (tx) => {
    const row = (await tx('state_changes').where('at', '<', before).max({ through: 'revision' }).first()) as { through: string | number | null } | undefined;
    if (row?.through === null || row?.through === undefined) return 0;
    const through = int(row.through);
    const deleted = (await tx('state_changes').where('revision', '<=', through).delete().returning('revision')) as unknown[];
    await tx('state_change_horizon').where({ id: 1 }).update({ pruned_through: tx.raw('GREATEST(pruned_through, ?)', [through]) });
    return deleted.length;
  });
}

const EPOCH_META_KEY = 'sync_epoch';

/**
 * This installation's sync epoch: made once, on first use, by whichever replica gets there first. A replica
 * holding revisions of another epoch (another database, a restore) starts over from a snapshot.
 */
export async function syncEpoch(db: Db, at: Date): Promise<string> {
  await claimMeta(db, EPOCH_META_KEY, randomUUID(), at);
  const row = (await db('meta').where({ key: EPOCH_META_KEY }).first('value')) as { value: string };
  return row.value;
}
