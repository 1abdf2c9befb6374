/** Issuers table: the issuer URL as a unique column, the rest of IssuerSpec as jsonb. */
import type { IssuerSpec } from '../../../authz-service/src/state/schema.js';
import type { IssuerResource } from '../api/issuers.js';
import { pageById, type Page, type PageRequest } from './paging.js';
import { iso, json, type Db } from './rows.js';

interface IssuerRow {
  id: string;
  issuer: string;
  spec: Omit<IssuerSpec, 'issuer'>;
  created_at: Date | string;
  updated_at: Date | string;
}

function toResource(row: IssuerRow): IssuerResource {
  return { id: row.id, issuer: row.issuer, ...row.spec, created_at: iso(row.created_at), updated_at: iso(row.updated_at) };
}

function columns(spec: IssuerSpec) {
  const { issuer, ...rest } = spec;
  return { issuer, spec: json(rest) };
}

export async function insertIssuer(db: Db, id: string, spec: IssuerSpec, at: Date): Promise<IssuerResource> {
  const [row] = (await db('issuers').insert({ id, ...columns(spec), created_at: at, updated_at: at }).returning('*')) as IssuerRow[];
  return toResource(row!);
}

export async function updateIssuer(db: Db, id: string, spec: IssuerSpec, at: Date): Promise<IssuerResource> {
  const [row] = (await db('issuers').where({ id }).update({ ...columns(spec), updated_at: at }).returning('*')) as IssuerRow[];
  return toResource(row!);
}

export async function deleteIssuer(db: Db, id: string): Promise<void> {
  await db('issuers').where({ id }).delete();
}

export async function findIssuer(db: Db, id: string): Promise<IssuerResource | undefined> {
  const row = (await db('issuers').where({ id }).first()) as IssuerRow | undefined;
  return row && toResource(row);
}

export async function listIssuers(db: Db, page: PageRequest): Promise<Page<IssuerResource>> {
  const result = await pageById<IssuerRow>(db('issuers').select('*'), 'id', page);
  return { ...result, items: result.items.map(toResource) };
}

export async function allIssuers(db: Db): Promise<IssuerResource[]> {
  return ((await db('issuers').select('*').orderBy('id')) as IssuerRow[]).map(toResource);
}
