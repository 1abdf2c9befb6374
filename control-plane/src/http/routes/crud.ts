/**
 * The five routes every catalog resource has (create, list, get, update, delete), built from one
 * description so plans, services, issuers and consumers cannot drift apart in shape, access or audit.
 */
import { z } from 'zod';
import { idParam, pageOf, paginationQuery } from '../../api/common.js';
import type { Page, PageRequest } from '../../store/paging.js';
import type { Db } from '../../store/rows.js';
import type { UnitOfWork } from '../../services/unit-of-work.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';

type Filter<Q extends z.ZodObject> = Omit<z.output<Q>, 'limit' | 'cursor'>;

export interface CrudResource<C extends z.ZodType, P extends z.ZodType, Q extends z.ZodObject> {
  /** Collection path, e.g. `/v1/plans`. */
  readonly path: string;
  readonly tag: string;
  /** Audit resource type, e.g. `plan`. */
  readonly resourceType: string;
  /** For operation ids: `Plan` gives createPlan, listPlans, getPlan, updatePlan, deletePlan. */
  readonly noun: string;
  readonly schemas: { readonly create: C; readonly patch: P; readonly resource: z.ZodType; readonly filter: Q };
  readonly summaries: { readonly create: string; readonly list: string; readonly get: string; readonly update: string; readonly delete: string };
  readonly descriptions?: { readonly create?: string; readonly list?: string };
  /** Statuses besides the common ones that the mutations can answer. */
  readonly conflicts: { readonly create: boolean; readonly update: boolean; readonly delete: boolean };
  create(uow: UnitOfWork, body: z.output<C>): Promise<unknown>;
  list(db: Db, page: PageRequest, filter: Filter<Q>): Promise<Page<unknown>>;
  get(db: Db, id: string): Promise<unknown>;
  update(uow: UnitOfWork, id: string, patch: z.output<P>): Promise<unknown>;
  remove(uow: UnitOfWork, id: string): Promise<void>;
}

const conflictIf = (flag: boolean) => (flag ? [409] : []);

export function crudRoutes<C extends z.ZodType, P extends z.ZodType, Q extends z.ZodObject>(r: CrudResource<C, P, Q>): Route[] {
  const { tag, resourceType } = r;
  const item = `${r.path}/{id}`;
  return [
    mutation({
      operationId: `create${r.noun}`,
      method: 'post',
      path: r.path,
      summary: r.summaries.create,
      ...(r.descriptions?.create ? { description: r.descriptions.create } : {}),
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      body: r.schemas.create,
      success: { status: 201, description: `The ${resourceType}`, schema: r.schemas.resource },
      errors: conflictIf(r.conflicts.create),
      handler: async ({ uow, body }) => ({ body: await r.create(uow, body as z.output<C>) }),
    }),
    query({
      operationId: `list${r.noun}s`,
      method: 'get',
      path: r.path,
      summary: r.summaries.list,
      ...(r.descriptions?.list ? { description: r.descriptions.list } : {}),
      tag,
      access: 'admin',
      query: r.schemas.filter.extend(paginationQuery),
      success: { status: 200, description: `A page of ${resourceType}s`, schema: pageOf(r.schemas.resource) },
      handler: async ({ db, query: q }) => {
        const { limit: _limit, cursor: _cursor, ...filter } = q as z.output<Q> & { limit: number; cursor?: string };
        return { body: pageBody(await r.list(db, pageRequest(q as { limit: number; cursor?: string }), filter as Filter<Q>)) };
      },
    }),
    query({
      operationId: `get${r.noun}`,
      method: 'get',
      path: item,
      summary: r.summaries.get,
      tag,
      access: 'admin',
      params: idParam,
      success: { status: 200, description: `The ${resourceType}`, schema: r.schemas.resource },
      errors: [404],
      handler: async ({ db, params }) => ({ body: await r.get(db, params.id) }),
    }),
    mutation({
      operationId: `update${r.noun}`,
      method: 'patch',
      path: item,
      summary: r.summaries.update,
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: r.schemas.patch,
      mergePatch: true,
      success: { status: 200, description: `The changed ${resourceType}`, schema: r.schemas.resource },
      errors: [404, ...conflictIf(r.conflicts.update)],
      handler: async ({ uow, params, body }) => ({ body: await r.update(uow, params.id, body as z.output<P>) }),
    }),
    mutation({
      operationId: `delete${r.noun}`,
      method: 'delete',
      path: item,
      summary: r.summaries.delete,
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      success: { status: 204, description: 'Deleted' },
      errors: [404, ...conflictIf(r.conflicts.delete)],
      handler: async ({ uow, params }) => {
        await r.remove(uow, params.id);
        return { status: 204 };
      },
    }),
  ];
}
