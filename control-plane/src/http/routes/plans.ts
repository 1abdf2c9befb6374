/** /v1/plans */
import { PlanCreateSchema, PlanListQuerySchema, PlanPatchSchema, PlanResourceSchema } from '../../api/plans.js';
import * as plans from '../../services/plans.js';
import type { Route } from '../route.js';
import { crudRoutes } from './crud.js';

export function planRoutes(): Route[] {
  return crudRoutes({
    path: '/v1/plans',
    tag: 'plans',
    resourceType: 'plan',
    noun: 'Plan',
    schemas: { create: PlanCreateSchema, patch: PlanPatchSchema, resource: PlanResourceSchema, filter: PlanListQuerySchema },
    summaries: {
      create: 'Create a plan',
      list: 'List plans',
      get: 'Get a plan by id or name',
      update: 'Change a plan (merge patch; null removes description or quota)',
      delete: 'Delete a plan no service, consumer or key uses',
    },
    descriptions: { create: 'Limits apply in every window at once; `quota` is a budget of requests refilled once per period.' },
    conflicts: { create: true, update: true, delete: true },
    create: plans.createPlan,
    list: plans.listPlans,
    get: plans.getPlan,
    update: plans.updatePlan,
    remove: plans.deletePlan,
  });
}
