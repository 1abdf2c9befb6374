/** The audit log table: insert and read, never update (a trigger enforces it). */
import type { AuditEntry, AuditListQuery, AuditOutcome } from '../api/audit.js';
import { compact, iso, json, type Db } from './rows.js';

export interface AuditRecord {
  readonly at: Date;
  readonly actorKind: string;
  readonly actorId: string;
  readonly actorConsumerId?: string;
  readonly action: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly outcome: AuditOutcome;
  readonly status: number;
  readonly code?: string;
  readonly requestId: string;
  readonly ip?: string;
  readonly userAgent?: string;
  readonly change?: unknown;
}

interface AuditRow {
  id: string | number;
  at: Date | string;
  actor_kind: string;
  actor_id: string;
  actor_consumer_id: string | null;
  action: string;
  resource_type: string | null;
  resource_id: string | null;
  outcome: AuditOutcome;
  status: number;
  code: string | null;
  request_id: string;
  ip: string | null;
  user_agent: string | null;
  change: unknown;
}

export async function insertAudit(db: Db, r: AuditRecord): Promise<void> {
  await db('audit_log').insert({
    at: r.at,
    actor_kind: r.actorKind,
    actor_id: r.actorId,
    actor_consumer_id: r.actorConsumerId ?? null,
    action: r.action,
    resource_type: r.resourceType ?? null,
    resource_id: r.resourceId ?? null,
    outcome: r.outcome,
    status: r.status,
    code: r.code ?? null,
    request_id: r.requestId,
    ip: r.ip ?? null,
    user_agent: r.userAgent ?? null,
    change: r.change === undefined ? null : json(r.change),
  });
}

function toEntry(row: AuditRow): AuditEntry {
  return compact({
    id: String(row.id),
    at: iso(row.at),
    actor: compact({ kind: row.actor_kind, id: row.actor_id, consumer_id: row.actor_consumer_id ?? undefined }),
    action: row.action,
    resource_type: row.resource_type ?? undefined,
    resource_id: row.resource_id ?? undefined,
    outcome: row.outcome,
    status: row.status,
    code: row.code ?? undefined,
    request_id: row.request_id,
    ip: row.ip ?? undefined,
    user_agent: row.user_agent ?? undefined,
    change: row.change ?? undefined,
  });
}

/** Newest first; `before` is the id of the last entry of the previous page. */
export async function listAudit(db: Db, filter: AuditListQuery, page: { before?: string; limit: number }): Promise<{ items: AuditEntry[]; nextBefore?: string }> {
  const query = db('audit_log').select('*');
  if (filter.actor_id !== undefined) query.where('actor_id', filter.actor_id);
  if (filter.action !== undefined) query.where('action', filter.action);
  if (filter.resource_type !== undefined) query.where('resource_type', filter.resource_type);
  if (filter.resource_id !== undefined) query.where('resource_id', filter.resource_id);
  if (filter.outcome !== undefined) query.where('outcome', filter.outcome);
  if (filter.since !== undefined) query.where('at', '>=', filter.since);
  if (filter.until !== undefined) query.where('at', '<', filter.until);
  if (page.before !== undefined) query.where('id', '<', page.before);
  const rows = (await query.orderBy('id', 'desc').limit(page.limit + 1)) as AuditRow[];
  const items = rows.slice(0, page.limit).map(toEntry);
  return rows.length > page.limit ? { items, nextBefore: items[items.length - 1]!.id } : { items };
}
