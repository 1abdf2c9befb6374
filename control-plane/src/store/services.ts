/** Services table: control-plane columns plus the data plane's service settings as one jsonb document. */
import type { ServiceResource, ServiceSettings } from '../api/services.js';
import { likeContains, pageById, type Page, type PageRequest } from './paging.js';
import { compact, iso, json, type Db } from './rows.js';

interface ServiceRow {
  id: string;
  name: string;
  display_name: string | null;
  description: string | null;
  plan_name: string | null;
  self_service: boolean;
  spec: ServiceSettings;
  created_at: Date | string;
  updated_at: Date | string;
}

export interface ServiceValues {
  readonly name: string;
  readonly displayName?: string;
  readonly description?: string;
  readonly planId?: string;
  readonly selfService: boolean;
  readonly settings: ServiceSettings;
}

function toResource(row: ServiceRow): ServiceResource {
  return compact({
    id: row.id,
    name: row.name,
    display_name: row.display_name ?? undefined,
    description: row.description ?? undefined,
    plan: row.plan_name ?? undefined,
    self_service: row.self_service,
    ...row.spec,
    created_at: iso(row.created_at),
    updated_at: iso(row.updated_at),
  }) as ServiceResource;
}

function columns(values: ServiceValues) {
  return {
    name: values.name,
    display_name: values.displayName ?? null,
    description: values.description ?? null,
    plan_id: values.planId ?? null,
    self_service: values.selfService,
    spec: json(values.settings),
  };
}

function selectServices(db: Db) {
  return db('services as s').leftJoin('plans as p', 'p.id', 's.plan_id').select('s.*', 'p.name as plan_name');
}

export async function insertService(db: Db, id: string, values: ServiceValues, at: Date): Promise<void> {
  await db('services').insert({ id, ...columns(values), created_at: at, updated_at: at });
}

export async function updateService(db: Db, id: string, values: ServiceValues, at: Date): Promise<void> {
  await db('services').where({ id }).update({ ...columns(values), updated_at: at });
}

export async function deleteService(db: Db, id: string): Promise<void> {
  await db('services').where({ id }).delete();
}

export async function findService(db: Db, ref: string): Promise<ServiceResource | undefined> {
  const row = (await selectServices(db).where((w) => w.where('s.id', ref).orWhere('s.name', ref)).first()) as ServiceRow | undefined;
  return row && toResource(row);
}

export async function listServices(db: Db, page: PageRequest, filter: { q?: string; selfService?: boolean }): Promise<Page<ServiceResource>> {
  const query = selectServices(db);
  if (filter.q !== undefined) query.where('s.name', 'like', likeContains(filter.q));
  if (filter.selfService !== undefined) query.where('s.self_service', filter.selfService);
  const result = await pageById<ServiceRow>(query, 's.id', page);
  return { ...result, items: result.items.map(toResource) };
}

export async function allServices(db: Db): Promise<ServiceResource[]> {
  return ((await selectServices(db).orderBy('s.id')) as ServiceRow[]).map(toResource);
}

/** Resolves names or ids to ids; returns the refs that matched nothing. */
export async function resolveServiceRefs(db: Db, refs: readonly string[]): Promise<{ ids: Map<string, string>; missing: string[] }> {
  if (refs.length === 0) return { ids: new Map(), missing: [] };
  const rows = (await db('services').select('id', 'name').whereIn('id', refs).orWhereIn('name', refs)) as { id: string; name: string }[];
  const ids = new Map<string, string>();
  for (const r of rows) {
    ids.set(r.id, r.id);
    ids.set(r.name, r.id);
  }
  return { ids, missing: refs.filter((ref) => !ids.has(ref)) };
}
