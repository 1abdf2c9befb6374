/** /v1/plans */
import { idParam, pageOf, paginationQuery } from '../../api/common.js';
import { PlanCreateSchema, PlanListQuerySchema, PlanPatchSchema, PlanResourceSchema } from '../../api/plans.js';
import * as plans from '../../services/plans.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';

const tag = 'plans';
const resourceType = 'plan';

export function planRoutes(): Route[] {
  return [
    mutation({
      operationId: 'createPlan',
      method: 'post',
      path: '/v1/plans',
      summary: 'Create a plan',
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      body: PlanCreateSchema,
      success: { status: 201, description: 'The plan', schema: PlanResourceSchema },
      errors: [409],
      handler: async ({ uow, body }) => ({ body: await plans.createPlan(uow, body) }),
    }),
    query({
      operationId: 'listPlans',
      method: 'get',
      path: '/v1/plans',
      summary: 'List plans',
      tag,
      access: 'admin',
      query: PlanListQuerySchema.extend(paginationQuery),
      success: { status: 200, description: 'A page of plans', schema: pageOf(PlanResourceSchema) },
      handler: async ({ db, query: q }) => {
        return { body: pageBody(await plans.listPlans(db, pageRequest(q), { q: q.q })) };
      },
    }),
    query({
      operationId: 'getPlan',
      method: 'get',
      path: '/v1/plans/{id}',
      summary: 'Get a plan by id or name',
      tag,
      access: 'admin',
      params: idParam,
      success: { status: 200, description: 'The plan', schema: PlanResourceSchema },
      errors: [404],
      handler: async ({ db, params }) => ({ body: await plans.getPlan(db, params.id) }),
    }),
    mutation({
      operationId: 'updatePlan',
      method: 'patch',
      path: '/v1/plans/{id}',
      summary: 'Change a plan (merge patch; null removes description or quota)',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: PlanPatchSchema,
      mergePatch: true,
      success: { status: 200, description: 'The changed plan', schema: PlanResourceSchema },
      errors: [404, 409],
      handler: async ({ uow, params, body }) => ({ body: await plans.updatePlan(uow, params.id, body) }),
    }),
    mutation({
      operationId: 'deletePlan',
      method: 'delete',
      path: '/v1/plans/{id}',
      summary: 'Delete a plan no service, consumer or key uses',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      success: { status: 204, description: 'Deleted' },
      errors: [404, 409],
      handler: async ({ uow, params }) => {
        await plans.deletePlan(uow, params.id);
        return { status: 204 };
      },
    }),
  ];
}

