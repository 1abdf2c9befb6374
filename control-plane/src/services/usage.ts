/** Usage counts: ingested in batches from the data plane, read per key and per consumer. */
import type { UsageBatch, UsageQuery, UsageReport } from '../api/usage.js';
import { invalid } from '../problem-error.js';
import type { Db } from '../store/rows.js';
import * as usage from '../store/usage.js';
import type { UnitOfWork } from './unit-of-work.js';

export const DEFAULT_USAGE_DAYS = 30;
export const MAX_USAGE_DAYS = 366;

export interface IngestResult {
  readonly batch_id: string;
  readonly duplicate: boolean;
  readonly accepted: number;
  readonly skipped: number;
}

/** Idempotent by batch id: the batch is recorded in the same transaction as its counts. */
export async function ingestUsage(uow: UnitOfWork, batch: UsageBatch): Promise<IngestResult> {
  if (!(await usage.claimBatch(uow.tx, batch.batch_id, batch.entries.length, uow.now))) {
    return { batch_id: batch.batch_id, duplicate: true, accepted: 0, skipped: 0 };
  }
  let accepted = 0;
  for (const e of batch.entries) {
    const counted = await usage.addUsage(uow.tx, {
      consumerId: e.consumer_id,
      day: e.day,
      requests: e.requests,
      ...(e.denied !== undefined ? { denied: e.denied } : {}),
      lastUsedAt: e.last_used_at,
      ...(e.key_id !== undefined ? { keyId: e.key_id } : {}),
    });
    if (counted) accepted++;
  }
  const result = { batch_id: batch.batch_id, duplicate: false, accepted, skipped: batch.entries.length - accepted };
  uow.audit({ resourceType: 'usage_batch', resourceId: batch.batch_id, change: { entries: batch.entries.length, accepted } });
  return result;
}

const DAY_MS = 86_400_000;
const day = (ms: number) => new Date(ms).toISOString().slice(0, 10);

export function usageWindow(query: UsageQuery, nowMs: number): { from: string; to: string } {
  const to = query.to ?? day(nowMs);
  const from = query.from ?? day(Date.parse(to) - (DEFAULT_USAGE_DAYS - 1) * DAY_MS);
  if (from > to) throw invalid('query.from', 'must not be after `to`');
  if ((Date.parse(to) - Date.parse(from)) / DAY_MS >= MAX_USAGE_DAYS) throw invalid('query.from', `at most ${MAX_USAGE_DAYS} days at once`);
  return { from, to };
}

export async function keyUsageReport(db: Db, key: { id: string; consumerId: string }, query: UsageQuery, nowMs: number): Promise<UsageReport> {
  const { from, to } = usageWindow(query, nowMs);
  const u = await usage.keyUsage(db, key.id, from, to);
  return { key_id: key.id, consumer_id: key.consumerId, from, to, total: u.total, days: u.days, ...(u.lastUsedAt ? { last_used_at: u.lastUsedAt } : {}) };
}

export async function consumerUsageReport(db: Db, consumerId: string, query: UsageQuery, nowMs: number): Promise<UsageReport> {
  const { from, to } = usageWindow(query, nowMs);
  const u = await usage.consumerUsage(db, consumerId, from, to);
  return { consumer_id: consumerId, from, to, total: u.total, days: u.days, ...(u.lastUsedAt ? { last_used_at: u.lastUsedAt } : {}) };
}
