/**
 * ReportUsage: a replica's batch of counts, stored by the same ingest as `POST /v1/usage` — idempotent by
 * batch id, in one transaction with its audit row. Entries arrive per key, consumer, service and day; the
 * usage tables keep key and consumer per day, so services are summed here.
 */
import { randomUUID } from 'node:crypto';
import type { Knex } from 'knex';
import type { WireUsageAck, WireUsageBatch } from '../../../authz-service/src/sync/messages.js';
import { type UsageBatch, UsageBatchSchema } from '../api/usage.js';
import type { Caller } from '../auth/actor.js';
import { ingestUsage } from '../services/usage.js';
import { type Clock, inUnitOfWork } from '../services/unit-of-work.js';

export type UsageIngestResult = { readonly ok: true; readonly ack: WireUsageAck } | { readonly ok: false; readonly problem: string };

/** The REST shape of a reported batch, or why it is not one. */
export function usageBatchFromWire(batch: WireUsageBatch): { ok: true; batch: UsageBatch } | { ok: false; problem: string } {
  const merged = new Map<string, { key_id?: string; consumer_id: string; day: string; requests: number; denied: number; last: number }>();
  for (const e of batch.entries) {
    const id = `${e.key_id}\u0000${e.consumer_id}\u0000${e.day}`;
    const entry = merged.get(id);
    if (entry) {
      entry.requests += e.allowed;
      entry.denied += e.denied;
      entry.last = Math.max(entry.last, e.last_used_ms);
    } else {
      merged.set(id, { ...(e.key_id !== '' ? { key_id: e.key_id } : {}), consumer_id: e.consumer_id, day: e.day, requests: e.allowed, denied: e.denied, last: e.last_used_ms });
    }
  }
  const entries = [...merged.values()].map(({ last, ...e }) => ({
    ...e,
    last_used_at: Number.isFinite(last) && last > 0 ? new Date(last).toISOString() : 'invalid',
  }));
  const parsed = UsageBatchSchema.safeParse({ batch_id: batch.batch_id, entries });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    return { ok: false, problem: `${issue.path.join('.')}: ${issue.message}` };
  }
  return { ok: true, batch: parsed.data };
}

export async function ingestReportedUsage(db: Knex, batch: WireUsageBatch, clock: Clock): Promise<UsageIngestResult> {
  const converted = usageBatchFromWire(batch);
  if (!converted.ok) return converted;
  const replica = batch.replica_id.slice(0, 128) || 'unnamed';
  const caller: Caller = {
    actor: { kind: 'system', id: `sync:${replica}`, admin: false, grants: new Set() },
    requestId: randomUUID(),
  };
  const { value } = await inUnitOfWork(db, caller, 'usage.report', clock, async (uow) => ({ status: 200, value: await ingestUsage(uow, converted.batch) }));
  return { ok: true, ack: { batch_id: value.batch_id, duplicate: value.duplicate, accepted: value.accepted, skipped: value.skipped } };
}
