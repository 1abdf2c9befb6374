/** Consumers and the OIDC subjects linked to them. */
import type { ConsumerResource, Subject } from '../api/consumers.js';
import { likeContains, pageById, type Page, type PageRequest } from './paging.js';
import { compact, iso, type Db } from './rows.js';

interface ConsumerRow {
  id: string;
  name: string;
  kind: ConsumerResource['kind'];
  plan_name: string | null;
  disabled: boolean;
  created_at: Date | string;
  updated_at: Date | string;
}

interface SubjectRow {
  consumer_id: string;
  issuer: string;
  sub: string;
}

export interface ConsumerValues {
  readonly name: string;
  readonly kind: ConsumerResource['kind'];
  readonly planId?: string;
  readonly disabled: boolean;
}

function toResource(row: ConsumerRow, subjects: readonly Subject[]): ConsumerResource {
  return compact({
    id: row.id,
    name: row.name,
    kind: row.kind,
    plan: row.plan_name ?? undefined,
    subjects: [...subjects],
    disabled: row.disabled,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  });
}

function columns(values: ConsumerValues) {
  return { name: values.name, kind: values.kind, plan_id: values.planId ?? null, disabled: values.disabled };
}

function selectConsumers(db: Db) {
  return db('consumers as c').leftJoin('plans as p', 'p.id', 'c.plan_id').select('c.*', 'p.name as plan_name');
}

async function withSubjects(db: Db, rows: readonly ConsumerRow[]): Promise<ConsumerResource[]> {
  if (rows.length === 0) return [];
  const subjectRows = (await db('consumer_subjects')
    .whereIn(
      'consumer_id',
      rows.map((r) => r.id),
    )
    .orderBy(['issuer', 'sub'])) as SubjectRow[];
  const byConsumer = new Map<string, Subject[]>();
  for (const s of subjectRows) {
    const list = byConsumer.get(s.consumer_id) ?? [];
    list.push({ issuer: s.issuer, sub: s.sub });
    byConsumer.set(s.consumer_id, list);
  }
  return rows.map((r) => toResource(r, byConsumer.get(r.id) ?? []));
}

export async function insertConsumer(db: Db, id: string, values: ConsumerValues, at: Date): Promise<void> {
  await db('consumers').insert({ id, ...columns(values), created_at: at, updated_at: at });
}

export async function updateConsumer(db: Db, id: string, values: ConsumerValues, at: Date): Promise<void> {
  await db('consumers').where({ id }).update({ ...columns(values), updated_at: at });
}

export async function deleteConsumer(db: Db, id: string): Promise<void> {
  await db('consumers').where({ id }).delete();
}

export async function insertSubjects(db: Db, consumerId: string, subjects: readonly Subject[], at: Date): Promise<void> {
  if (subjects.length === 0) return;
  await db('consumer_subjects').insert(subjects.map((s) => ({ consumer_id: consumerId, issuer: s.issuer, sub: s.sub, created_at: at })));
}

/** Returns whether the subject was linked to this consumer. */
export async function deleteSubject(db: Db, consumerId: string, subject: Subject): Promise<boolean> {
  // RETURNING rather than the affected-row count, which the PGlite driver does not report
  const rows = (await db('consumer_subjects').where({ consumer_id: consumerId, issuer: subject.issuer, sub: subject.sub }).delete().returning('sub')) as unknown[];
  return rows.length > 0;
}

export async function findConsumer(db: Db, id: string): Promise<ConsumerResource | undefined> {
  const row = (await selectConsumers(db).where('c.id', id).first()) as ConsumerRow | undefined;
  if (!row) return undefined;
  return (await withSubjects(db, [row]))[0];
}

export async function consumerExists(db: Db, id: string): Promise<boolean> {
  return (await db('consumers').where({ id }).first('id')) !== undefined;
}

export interface ConsumerFilter {
  readonly q?: string;
  readonly kind?: ConsumerResource['kind'];
  readonly issuer?: string;
  readonly sub?: string;
}

export async function listConsumers(db: Db, page: PageRequest, filter: ConsumerFilter): Promise<Page<ConsumerResource>> {
  const query = selectConsumers(db);
  if (filter.q !== undefined) query.where('c.name', 'ilike', likeContains(filter.q));
  if (filter.kind !== undefined) query.where('c.kind', filter.kind);
  if (filter.issuer !== undefined || filter.sub !== undefined) {
    query.whereExists((sub) => {
      sub.select(db.raw('1')).from('consumer_subjects as cs').whereRaw('cs.consumer_id = c.id');
      if (filter.issuer !== undefined) sub.where('cs.issuer', filter.issuer);
      if (filter.sub !== undefined) sub.where('cs.sub', filter.sub);
    });
  }
  const result = await pageById<ConsumerRow>(query, 'c.id', page);
  return { ...result, items: await withSubjects(db, result.items) };
}

/** One page of every consumer with its subjects, for a sync snapshot; subjects read by id range. */
export async function pageConsumersForSync(db: Db, page: PageRequest): Promise<Page<ConsumerResource>> {
  const result = await pageById<ConsumerRow>(selectConsumers(db), 'c.id', page);
  if (result.items.length === 0) return { items: [] };
  const query = db('consumer_subjects').where('consumer_id', '<=', result.items[result.items.length - 1]!.id).orderBy(['issuer', 'sub']);
  if (page.after !== undefined) query.where('consumer_id', '>', page.after);
  const byConsumer = new Map<string, Subject[]>();
  for (const s of (await query) as SubjectRow[]) {
    const list = byConsumer.get(s.consumer_id) ?? [];
    list.push({ issuer: s.issuer, sub: s.sub });
    byConsumer.set(s.consumer_id, list);
  }
  return { ...result, items: result.items.map((r) => toResource(r, byConsumer.get(r.id) ?? [])) };
}

/** The consumers among `ids` that exist, for a sync delta. */
export async function consumersByIds(db: Db, ids: readonly string[]): Promise<ConsumerResource[]> {
  if (ids.length === 0) return [];
  return withSubjects(db, (await selectConsumers(db).whereIn('c.id', ids)) as ConsumerRow[]);
}

export async function allConsumers(db: Db): Promise<ConsumerResource[]> {
  return withSubjects(db, (await selectConsumers(db).orderBy('c.id')) as ConsumerRow[]);
}

export async function countConsumers(db: Db): Promise<number> {
  const row = (await db('consumers').count({ n: '*' }).first()) as { n: string | number };
  return Number(row.n);
}
