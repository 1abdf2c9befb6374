/**
 * API keys, their secrets (HMAC hashes only) and the services they may call. A key's identity (id,
 * consumer, usage, buckets) is the api_keys row; rotation adds a secret row and never a new key.
 */
import type { Knex } from 'knex';
import type { LimitSpec } from '../../../authz-service/src/state/schema.js';
import type { KeyStatus } from '../api/keys.js';
import { pageById, type Page, type PageRequest } from './paging.js';
import { iso, isoOrUndefined, json, type Db } from './rows.js';

interface KeyRow {
  id: string;
  consumer_id: string;
  name: string | null;
  scopes: string[];
  plan_name: string | null;
  limits: LimitSpec[];
  expires_at: Date | string | null;
  revoked_at: Date | string | null;
  awaiting_approval: boolean;
  created_at: Date | string;
  updated_at: Date | string;
  last_used_at: Date | string | null;
}

interface SecretRow {
  hash: string;
  key_id: string;
  prefix: string;
  not_after: Date | string | null;
  created_at: Date | string;
}

export interface SecretRecord {
  readonly hash: string;
  readonly prefix: string;
  readonly notAfter?: string;
  readonly createdAt: string;
}

export interface KeyRecord {
  readonly id: string;
  readonly consumerId: string;
  readonly name?: string;
  readonly scopes: readonly string[];
  readonly plan?: string;
  readonly limits: readonly LimitSpec[];
  readonly expiresAt?: string;
  readonly revokedAt?: string;
  /**
   * Stored revoked because its system of record has not approved it yet (a 3scale application awaiting
   * approval); the provisioner restores it once approved. Never set on a key that is not revoked.
   */
  readonly awaitingApproval?: true;
  readonly createdAt: string;
  readonly updatedAt: string;
  readonly lastUsedAt?: string;
  /** Service names; empty: every service. */
  readonly services: readonly string[];
  /** Newest first. */
  readonly secrets: readonly SecretRecord[];
}

export interface KeyValues {
  readonly name?: string;
  readonly scopes: readonly string[];
  readonly planId?: string;
  readonly limits: readonly LimitSpec[];
  readonly expiresAt?: string;
}

function columns(values: KeyValues) {
  return {
    name: values.name ?? null,
    scopes: json(values.scopes),
    plan_id: values.planId ?? null,
    limits: json(values.limits),
    expires_at: values.expiresAt ?? null,
  };
}

function selectKeys(db: Db) {
  return db('api_keys as k')
    .leftJoin('plans as p', 'p.id', 'k.plan_id')
    .select('k.*', 'p.name as plan_name', db('usage_key_daily as u').max('u.last_used_at').whereRaw('u.key_id = k.id').as('last_used_at'));
}

/** Keys as the data plane needs them: without usage, which costs a lookup per key. */
function selectKeysForSync(db: Db) {
  return db('api_keys as k').leftJoin('plans as p', 'p.id', 'k.plan_id').select('k.*', 'p.name as plan_name');
}

function toRecord(row: KeyRow, secrets: readonly SecretRow[], services: readonly string[]): KeyRecord {
  const record: KeyRecord = {
    id: row.id,
    consumerId: row.consumer_id,
    scopes: row.scopes,
    limits: row.limits,
    createdAt: iso(row.created_at),
    updatedAt: iso(row.updated_at),
    services: [...services].sort(),
    secrets: [...secrets]
      .sort((a, b) => iso(b.created_at).localeCompare(iso(a.created_at)) || a.hash.localeCompare(b.hash))
      .map((s) => ({ hash: s.hash, prefix: s.prefix, createdAt: iso(s.created_at), ...(s.not_after ? { notAfter: iso(s.not_after) } : {}) })),
  };
  const optional = {
    name: row.name ?? undefined,
    plan: row.plan_name ?? undefined,
    expiresAt: isoOrUndefined(row.expires_at),
    revokedAt: isoOrUndefined(row.revoked_at),
    awaitingApproval: row.awaiting_approval ? (true as const) : undefined,
    lastUsedAt: isoOrUndefined(row.last_used_at),
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined) Object.assign(record, { [k]: v });
  return record;
}

function group<T, K>(rows: readonly T[], key: (row: T) => K): Map<K, T[]> {
  const out = new Map<K, T[]>();
  for (const row of rows) {
    const list = out.get(key(row)) ?? [];
    list.push(row);
    out.set(key(row), list);
  }
  return out;
}

async function withDetails(db: Db, rows: readonly KeyRow[], all = false): Promise<KeyRecord[]> {
  if (rows.length === 0) return [];
  const ids = rows.map((r) => r.id);
  const secretsQuery = db('api_key_secrets').select('*');
  const servicesQuery = db('api_key_services as ks').join('services as s', 's.id', 'ks.service_id').select('ks.key_id', 's.name');
  if (!all) {
    secretsQuery.whereIn('key_id', ids);
    servicesQuery.whereIn('ks.key_id', ids);
  }
  const secrets = group((await secretsQuery) as SecretRow[], (s) => s.key_id);
  const services = group((await servicesQuery) as { key_id: string; name: string }[], (s) => s.key_id);
  return rows.map((r) =>
    toRecord(
      r,
      secrets.get(r.id) ?? [],
      (services.get(r.id) ?? []).map((s) => s.name),
    ),
  );
}

/** `awaitingApproval`: the key is born revoked (at `at`) and waits for its system of record's approval. */
export async function insertKey(db: Db, id: string, consumerId: string, values: KeyValues, at: Date, awaitingApproval = false): Promise<void> {
  await db('api_keys').insert({
    id,
    consumer_id: consumerId,
    ...columns(values),
    revoked_at: awaitingApproval ? at : null,
    awaiting_approval: awaitingApproval,
    created_at: at,
    updated_at: at,
  });
}

export async function updateKey(db: Db, id: string, values: KeyValues, at: Date): Promise<void> {
  await db('api_keys').where({ id }).update({ ...columns(values), updated_at: at });
}

/** Revoking or restoring a key is a decision about it, so it also ends any wait for approval. */
export async function setRevoked(db: Db, id: string, revokedAt: Date | null, at: Date): Promise<void> {
  await db('api_keys').where({ id }).update({ revoked_at: revokedAt, awaiting_approval: false, updated_at: at });
}

export async function insertSecret(db: Db, keyId: string, secret: { hash: string; prefix: string }, at: Date): Promise<void> {
  await db('api_key_secrets').insert({ hash: secret.hash, key_id: keyId, prefix: secret.prefix, not_after: null, created_at: at });
}

/**
 * Ends the key's current secrets at `notAfter` (never later than an end they already have) and deletes
 * secrets whose end has passed, so a key does not accumulate dead hashes. Returns how many stay live.
 */
export async function endSecrets(db: Db, keyId: string, notAfter: Date, now: Date): Promise<number> {
  await db('api_key_secrets').where({ key_id: keyId }).where('not_after', '<', now).delete();
  await db('api_key_secrets')
    .where({ key_id: keyId })
    .update({ not_after: db.raw('LEAST(COALESCE(not_after, ?::timestamptz), ?::timestamptz)', [notAfter, notAfter]) });
  const row = (await db('api_key_secrets').where({ key_id: keyId }).count({ n: '*' }).first()) as { n: string | number };
  return Number(row.n);
}

export async function setKeyServices(db: Db, keyId: string, serviceIds: readonly string[]): Promise<void> {
  await db('api_key_services').where({ key_id: keyId }).delete();
  if (serviceIds.length > 0) await db('api_key_services').insert([...new Set(serviceIds)].map((service_id) => ({ key_id: keyId, service_id })));
}

/** `consumerId` scopes the lookup to one owner: another consumer's key is simply not found. */
export async function findKey(db: Db, id: string, consumerId?: string, lock = false): Promise<KeyRecord | undefined> {
  const query = db('api_keys as k').where('k.id', id);
  if (consumerId !== undefined) query.where('k.consumer_id', consumerId);
  if (lock) {
    // lock the bare row first: FOR UPDATE cannot apply to the nullable side of the plan join
    if (!(await query.clone().first('k.id').forUpdate())) return undefined;
  }
  const row = (await selectKeys(db).where('k.id', id).modify((q: Knex.QueryBuilder) => {
    if (consumerId !== undefined) q.where('k.consumer_id', consumerId);
  }).first()) as KeyRow | undefined;
  if (!row) return undefined;
  return (await withDetails(db, [row]))[0];
}

export async function findKeyByHash(db: Db, hash: string): Promise<KeyRecord | undefined> {
  const owner = (await db('api_key_secrets').where({ hash }).first('key_id')) as { key_id: string } | undefined;
  return owner && findKey(db, owner.key_id);
}

export interface KeyFilter {
  readonly consumerId?: string;
  readonly serviceId?: string;
  readonly status?: KeyStatus;
  readonly now: Date;
}

/** The SQL twin of services/keys.ts `keyStatus`: every key matches exactly one status. */
function applyStatus(query: Knex.QueryBuilder, status: KeyStatus, now: Date): void {
  if (status === 'revoked') query.whereNotNull('k.revoked_at').where('k.awaiting_approval', false);
  else if (status === 'pending_approval') query.where('k.awaiting_approval', true);
  else if (status === 'expired') query.whereNull('k.revoked_at').where('k.expires_at', '<=', now);
  else query.whereNull('k.revoked_at').where(notExpired(now));
}

const notExpired = (now: Date) => (w: Knex.QueryBuilder) => w.whereNull('k.expires_at').orWhere('k.expires_at', '>', now);

/**
 * Keys a consumer holds: active ones and unexpired ones awaiting approval. A key waiting for approval is
 * the consumer's key for its services already: asking again must not queue a second one.
 */
function applyHeld(query: Knex.QueryBuilder, now: Date): void {
  query.where((w) => w.whereNull('k.revoked_at').orWhere('k.awaiting_approval', true)).where(notExpired(now));
}

export async function listKeys(db: Db, page: PageRequest, filter: KeyFilter): Promise<Page<KeyRecord>> {
  const query = selectKeys(db);
  if (filter.consumerId !== undefined) query.where('k.consumer_id', filter.consumerId);
  if (filter.serviceId !== undefined) {
    query.whereExists((sub) => sub.select(db.raw('1')).from('api_key_services as ks').whereRaw('ks.key_id = k.id').where('ks.service_id', filter.serviceId!));
  }
  if (filter.status !== undefined) applyStatus(query, filter.status, filter.now);
  const result = await pageById<KeyRow>(query, 'k.id', page);
  return { ...result, items: await withDetails(db, result.items) };
}

/**
 * One page of every key, for a sync snapshot. Secrets and services of the page are read by id range, not by
 * a list of thousands of ids: a million keys take a few hundred cheap index range scans.
 */
export async function pageKeysForSync(db: Db, page: PageRequest): Promise<Page<KeyRecord>> {
  const result = await pageById<KeyRow>(selectKeysForSync(db), 'k.id', page);
  if (result.items.length === 0) return { items: [] };
  const range = (query: Knex.QueryBuilder, column: string): Knex.QueryBuilder => {
    if (page.after !== undefined) query.where(column, '>', page.after);
    return query.where(column, '<=', result.items[result.items.length - 1]!.id);
  };
  const secrets = group((await range(db('api_key_secrets').select('*'), 'key_id')) as SecretRow[], (s) => s.key_id);
  const services = group(
    (await range(db('api_key_services as ks').join('services as s', 's.id', 'ks.service_id').select('ks.key_id', 's.name'), 'ks.key_id')) as { key_id: string; name: string }[],
    (s) => s.key_id,
  );
  return {
    ...result,
    items: result.items.map((r) =>
      toRecord(
        r,
        secrets.get(r.id) ?? [],
        (services.get(r.id) ?? []).map((s) => s.name),
      ),
    ),
  };
}

/** The keys among `ids` that exist, for a sync delta. */
export async function keysForSync(db: Db, ids: readonly string[]): Promise<KeyRecord[]> {
  if (ids.length === 0) return [];
  return withDetails(db, (await selectKeysForSync(db).whereIn('k.id', ids)) as KeyRow[]);
}

/** Every key, for the state document. */
export async function allKeys(db: Db): Promise<KeyRecord[]> {
  return withDetails(db, (await selectKeys(db).orderBy('k.id')) as KeyRow[], true);
}

/** Active keys and keys awaiting approval: what the self-service quota counts. */
export async function countHeldKeys(db: Db, consumerId: string, now: Date): Promise<number> {
  const query = db('api_keys as k').where('k.consumer_id', consumerId).count({ n: '*' });
  applyHeld(query, now);
  const row = (await query.first()) as { n: string | number };
  return Number(row.n);
}

export async function countKeys(db: Db): Promise<number> {
  const row = (await db('api_keys').count({ n: '*' }).first()) as { n: string | number };
  return Number(row.n);
}

/**
 * The consumer's keys that may call `serviceId` (listing it, or listing none: every service): active ones
 * first, then those awaiting approval, each newest first.
 */
export async function heldKeysForService(db: Db, consumerId: string, serviceId: string, now: Date): Promise<KeyRecord[]> {
  const services = () => db('api_key_services as ks').select(db.raw('1')).whereRaw('ks.key_id = k.id');
  const query = selectKeys(db)
    .where('k.consumer_id', consumerId)
    .where((w) => w.whereExists(services().where('ks.service_id', serviceId)).orWhereNotExists(services()))
    .orderBy([
      { column: 'k.awaiting_approval', order: 'asc' },
      { column: 'k.id', order: 'desc' },
    ]);
  applyHeld(query, now);
  return withDetails(db, (await query) as KeyRow[]);
}
