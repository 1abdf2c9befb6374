/** 3scale links: consumer ↔ account, mirrored key ↔ application, and unconfirmed applications to remove. */
import type { LimitSpec } from '../../../authz-service/src/state/schema.js';
import { iso, isUniqueViolation, type Db } from './rows.js';
import { conflict } from '../problem-error.js';

export type LinkState = 'live' | 'suspended' | 'pending' | 'deleted';

/** The link state for an application state as 3scale reports it. */
export function linkStateOf(applicationState: string): LinkState {
  return applicationState === 'suspended' ? 'suspended' : applicationState === 'pending' ? 'pending' : 'live';
}

export interface ApplicationLink {
  readonly keyId: string;
  readonly tenant: string;
  readonly serviceId: string;
  readonly accountId: string;
  readonly applicationId: string;
  readonly planId: string;
  readonly state: LinkState;
  readonly pending?: 'suspend';
}

interface LinkRow {
  key_id: string;
  tenant: string;
  service_id: string;
  account_id: string;
  application_id: string;
  plan_id: string;
  state: LinkState;
  pending: 'suspend' | null;
}

function toLink(row: LinkRow): ApplicationLink {
  return {
    keyId: row.key_id,
    tenant: row.tenant,
    serviceId: row.service_id,
    accountId: row.account_id,
    applicationId: row.application_id,
    planId: row.plan_id,
    state: row.state,
    ...(row.pending ? { pending: row.pending } : {}),
  };
}

export async function insertLink(db: Db, link: ApplicationLink, at: Date): Promise<void> {
  await db('threescale_applications').insert({
    key_id: link.keyId,
    tenant: link.tenant,
    service_id: link.serviceId,
    account_id: link.accountId,
    application_id: link.applicationId,
    plan_id: link.planId,
    state: link.state,
    pending: link.pending ?? null,
    synced_at: at,
  });
}

export async function updateLink(db: Db, keyId: string, change: { state?: LinkState; planId?: string; pending?: 'suspend' | null }, at: Date): Promise<void> {
  await db('threescale_applications')
    .where({ key_id: keyId })
    .update({
      ...(change.state !== undefined ? { state: change.state } : {}),
      ...(change.planId !== undefined ? { plan_id: change.planId } : {}),
      ...(change.pending !== undefined ? { pending: change.pending } : {}),
      synced_at: at,
    });
}

export async function findLink(db: Db, keyId: string): Promise<ApplicationLink | undefined> {
  const row = (await db('threescale_applications').where({ key_id: keyId }).first()) as LinkRow | undefined;
  return row && toLink(row);
}

/** Which of these applications already back a key. */
export async function linkedApplications(db: Db, tenant: string, applicationIds: readonly string[]): Promise<Set<string>> {
  if (applicationIds.length === 0) return new Set();
  const rows = (await db('threescale_applications').where({ tenant }).whereIn('application_id', applicationIds).pluck('application_id')) as string[];
  return new Set(rows);
}

/** A mirrored key as reconciliation compares it: the link, whether the key is revoked, its current secret. */
export interface MirroredKey extends ApplicationLink {
  readonly revoked: boolean;
  /** Revoked only until its application is approved (api_keys.awaiting_approval). */
  readonly awaitingApproval: boolean;
  readonly consumerId: string;
  readonly plan?: string;
  readonly limits: readonly LimitSpec[];
  /** The secret without an end (the current one); undefined if every secret is in its grace period. */
  readonly currentHash?: string;
}

export async function mirroredKeys(db: Db, tenant: string, serviceId: string): Promise<MirroredKey[]> {
  const rows = (await db('threescale_applications as t')
    .join('api_keys as k', 'k.id', 't.key_id')
    .leftJoin('api_key_secrets as s', (j) => j.on('s.key_id', '=', 't.key_id').andOnNull('s.not_after'))
    .leftJoin('plans as p', 'p.id', 'k.plan_id')
    .where({ 't.tenant': tenant, 't.service_id': serviceId })
    .orderBy('t.key_id')
    .select('t.*', 'k.revoked_at', 'k.awaiting_approval', 'k.consumer_id', 'k.limits', 'p.name as plan_name', 's.hash as current_hash')) as (LinkRow & {
    revoked_at: Date | string | null;
    awaiting_approval: boolean;
    consumer_id: string;
    limits: LimitSpec[];
    plan_name: string | null;
    current_hash: string | null;
  })[];
  return rows.map((r) => ({
    ...toLink(r),
    revoked: r.revoked_at !== null,
    awaitingApproval: r.awaiting_approval,
    consumerId: r.consumer_id,
    limits: r.limits,
    ...(r.plan_name ? { plan: r.plan_name } : {}),
    ...(r.current_hash ? { currentHash: r.current_hash } : {}),
  }));
}

/** Keys with a revocation that has not reached 3scale yet. */
export async function pendingSuspensions(db: Db, tenant: string): Promise<ApplicationLink[]> {
  return ((await db('threescale_applications').where({ tenant, pending: 'suspend' }).orderBy('key_id')) as LinkRow[]).map(toLink);
}

export async function accountOf(db: Db, tenant: string, consumerId: string): Promise<string | undefined> {
  const row = (await db('threescale_accounts').where({ tenant, consumer_id: consumerId }).first('account_id')) as { account_id: string } | undefined;
  return row?.account_id;
}

/** account id → consumer id, for one tenant. */
export async function consumersByAccount(db: Db, tenant: string): Promise<Map<string, string>> {
  const rows = (await db('threescale_accounts').where({ tenant }).select('account_id', 'consumer_id')) as { account_id: string; consumer_id: string }[];
  return new Map(rows.map((r) => [r.account_id, r.consumer_id]));
}

/** Links the consumer to its account (replacing a stale link); one account belongs to one consumer. */
export async function linkAccount(db: Db, tenant: string, consumerId: string, accountId: string, at: Date): Promise<void> {
  try {
    await db('threescale_accounts').insert({ tenant, consumer_id: consumerId, account_id: accountId, created_at: at }).onConflict(['tenant', 'consumer_id']).merge(['account_id']);
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`3scale account ${accountId} already belongs to another consumer`);
    throw error;
  }
}

export interface Orphan {
  readonly tenant: string;
  readonly applicationId: string;
  readonly accountId: string;
  readonly reason: string;
  readonly recordedAt: string;
}

export async function recordOrphan(db: Db, orphan: Omit<Orphan, 'recordedAt'>, at: Date): Promise<void> {
  await db('threescale_orphans')
    .insert({ tenant: orphan.tenant, application_id: orphan.applicationId, account_id: orphan.accountId, reason: orphan.reason, recorded_at: at })
    .onConflict(['tenant', 'application_id'])
    .ignore();
}

export async function listOrphans(db: Db, tenant: string): Promise<Orphan[]> {
  const rows = (await db('threescale_orphans').where({ tenant }).orderBy('application_id')) as {
    tenant: string;
    application_id: string;
    account_id: string;
    reason: string;
    recorded_at: Date | string;
  }[];
  return rows.map((r) => ({ tenant: r.tenant, applicationId: r.application_id, accountId: r.account_id, reason: r.reason, recordedAt: iso(r.recorded_at) }));
}

export async function deleteOrphan(db: Db, tenant: string, applicationId: string): Promise<void> {
  await db('threescale_orphans').where({ tenant, application_id: applicationId }).delete();
}
