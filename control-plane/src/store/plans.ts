/** Plans table. */
import type { LimitSpec } from '../../../authz-service/src/state/schema.js';
import type { PlanResource } from '../api/plans.js';
import { pageById, likeContains, type Page, type PageRequest } from './paging.js';
import { compact, iso, json, type Db } from './rows.js';

interface PlanRow {
  id: string;
  name: string;
  description: string | null;
  limits: LimitSpec[];
  bucket: 'consumer' | 'key';
  quota: { requests: number; period: string } | null;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface PlanValues {
  readonly name: string;
  readonly description?: string;
  readonly limits: readonly LimitSpec[];
  readonly bucket: 'consumer' | 'key';
  readonly quota?: { readonly requests: number; readonly period: string };
}

function toResource(row: PlanRow): PlanResource {
  return compact({
    id: row.id,
    name: row.name,
    description: row.description ?? undefined,
    limits: row.limits,
    bucket: row.bucket,
    quota: row.quota ?? undefined,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  });
}

function columns(values: PlanValues) {
  return {
    name: values.name,
    description: values.description ?? null,
    limits: json(values.limits),
    bucket: values.bucket,
    quota: values.quota ? json(values.quota) : null,
  };
}

export async function insertPlan(db: Db, id: string, values: PlanValues, at: Date): Promise<PlanResource> {
  const [row] = (await db('plans').insert({ id, ...columns(values), created_at: at, updated_at: at }).returning('*')) as PlanRow[];
  return toResource(row!);
}

export async function updatePlan(db: Db, id: string, values: PlanValues, at: Date): Promise<PlanResource> {
  const [row] = (await db('plans').where({ id }).update({ ...columns(values), updated_at: at }).returning('*')) as PlanRow[];
  return toResource(row!);
}

export async function deletePlan(db: Db, id: string): Promise<void> {
  await db('plans').where({ id }).delete();
}

/** By id or by name; `forUpdate` locks the row inside a transaction. */
export async function findPlan(db: Db, ref: string, forUpdate = false): Promise<PlanResource | undefined> {
  const query = db('plans').where('id', ref).orWhere('name', ref).first();
  if (forUpdate) query.forUpdate();
  const row = (await query) as PlanRow | undefined;
  return row && toResource(row);
}

export async function listPlans(db: Db, page: PageRequest, filter: { q?: string }): Promise<Page<PlanResource>> {
  const query = db('plans').select('*');
  if (filter.q !== undefined) query.where('name', 'like', likeContains(filter.q));
  const result = await pageById<PlanRow>(query, 'id', page);
  return { ...result, items: result.items.map(toResource) };
}

export async function allPlans(db: Db): Promise<PlanResource[]> {
  return ((await db('plans').select('*').orderBy('id')) as PlanRow[]).map(toResource);
}

export async function planNames(db: Db): Promise<Map<string, string>> {
  const rows = (await db('plans').select('id', 'name')) as { id: string; name: string }[];
  return new Map(rows.map((r) => [r.id, r.name]));
}
