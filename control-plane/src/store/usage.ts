/** Daily usage per key and per consumer, and the ids of batches already counted. */
import type { Db } from './rows.js';
import { isoOrUndefined } from './rows.js';

export interface UsageIncrement {
  readonly consumerId: string;
  readonly keyId?: string;
  readonly day: string;
  readonly requests: number;
  readonly denied?: number;
  readonly lastUsedAt: string;
}

/** True when the batch id is new (and is now recorded); false for a batch seen before. */
export async function claimBatch(tx: Db, batchId: string, entries: number, at: Date): Promise<boolean> {
  const rows = (await tx('usage_batches').insert({ batch_id: batchId, entries, received_at: at }).onConflict('batch_id').ignore().returning('batch_id')) as unknown[];
  return rows.length === 1;
}

/**
 * Adds one increment; rows for keys or consumers that no longer exist are skipped (usage can arrive after
 * a consumer was deleted). Returns whether it was counted.
 */
export async function addUsage(tx: Db, u: UsageIncrement): Promise<boolean> {
  const consumer = await tx.raw(
    `INSERT INTO usage_consumer_daily (consumer_id, day, requests, denied, last_used_at)
     SELECT id, ?::date, ?, ?, ?::timestamptz FROM consumers WHERE id = ?
     ON CONFLICT (consumer_id, day) DO UPDATE SET
       requests = usage_consumer_daily.requests + EXCLUDED.requests,
       denied = usage_consumer_daily.denied + EXCLUDED.denied,
       last_used_at = GREATEST(usage_consumer_daily.last_used_at, EXCLUDED.last_used_at)
     RETURNING consumer_id`,
    [u.day, u.requests, u.denied ?? 0, u.lastUsedAt, u.consumerId],
  );
  if (rowCount(consumer) === 0) return false;
  if (u.keyId === undefined) return true;
  await tx.raw(
    `INSERT INTO usage_key_daily (key_id, day, requests, denied, last_used_at)
     SELECT id, ?::date, ?, ?, ?::timestamptz FROM api_keys WHERE id = ? AND consumer_id = ?
     ON CONFLICT (key_id, day) DO UPDATE SET
       requests = usage_key_daily.requests + EXCLUDED.requests,
       denied = usage_key_daily.denied + EXCLUDED.denied,
       last_used_at = GREATEST(usage_key_daily.last_used_at, EXCLUDED.last_used_at)`,
    [u.day, u.requests, u.denied ?? 0, u.lastUsedAt, u.keyId, u.consumerId],
  );
  return true;
}

function rowCount(result: unknown): number {
  const rows = (result as { rows?: unknown[] }).rows;
  return rows?.length ?? 0;
}

export interface DailyUsage {
  /** `denied` only on days with denials. */
  readonly days: { day: string; requests: number; denied?: number }[];
  readonly total: number;
  readonly lastUsedAt?: string;
}

async function daily(db: Db, table: 'usage_key_daily' | 'usage_consumer_daily', column: 'key_id' | 'consumer_id', id: string, from: string, to: string): Promise<DailyUsage> {
  const rows = (await db(table)
    .where(column, id)
    .whereBetween('day', [from, to])
    .orderBy('day')
    .select(db.raw('day::text as day'), 'requests', 'denied', 'last_used_at')) as { day: string; requests: string | number; denied: string | number; last_used_at: Date | string }[];
  const last = (await db(table).where(column, id).max({ at: 'last_used_at' }).first()) as { at: Date | string | null } | undefined;
  const days = rows.map((r) => (Number(r.denied) > 0 ? { day: r.day, requests: Number(r.requests), denied: Number(r.denied) } : { day: r.day, requests: Number(r.requests) }));
  const lastUsedAt = isoOrUndefined(last?.at);
  return { days, total: days.reduce((sum, d) => sum + d.requests, 0), ...(lastUsedAt ? { lastUsedAt } : {}) };
}

export const keyUsage = (db: Db, keyId: string, from: string, to: string) => daily(db, 'usage_key_daily', 'key_id', keyId, from, to);
export const consumerUsage = (db: Db, consumerId: string, from: string, to: string) => daily(db, 'usage_consumer_daily', 'consumer_id', consumerId, from, to);

