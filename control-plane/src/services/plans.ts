/** Plans: named sets of rate-limit windows and an optional quota. */
import type { PlanCreate, PlanPatch, PlanResource } from '../api/plans.js';
import { newId } from '../ids.js';
import { notFound } from '../problem-error.js';
import type { Page, PageRequest } from '../store/paging.js';
import * as plans from '../store/plans.js';
import type { Db } from '../store/rows.js';
import { verifyCatalog } from './state-document.js';
import { mergePatch } from './patch.js';
import type { UnitOfWork } from './unit-of-work.js';

const RESOURCE = 'plan';

export async function createPlan(uow: UnitOfWork, input: PlanCreate): Promise<PlanResource> {
  const id = newId('plan', uow.now.getTime());
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'create' });
  const plan = await plans.insertPlan(uow.tx, id, input, uow.now);
  await verifyCatalog(uow.tx);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { after: plan } });
  return plan;
}

export async function updatePlan(uow: UnitOfWork, ref: string, patch: PlanPatch): Promise<PlanResource> {
  const before = await getPlan(uow.tx, ref);
  await uow.changesState({ resourceType: RESOURCE, resourceId: before.id, action: 'update' });
  const merged = mergePatch(before, patch);
  const after = await plans.updatePlan(uow.tx, before.id, merged, uow.now);
  await verifyCatalog(uow.tx);
  uow.audit({ resourceType: RESOURCE, resourceId: before.id, change: { before, after } });
  return after;
}

/** Refused (409) while a service, consumer or key still uses the plan. */
export async function deletePlan(uow: UnitOfWork, ref: string): Promise<void> {
  const before = await getPlan(uow.tx, ref);
  await uow.changesState({ resourceType: RESOURCE, resourceId: before.id, action: 'delete' });
  await plans.deletePlan(uow.tx, before.id);
  uow.audit({ resourceType: RESOURCE, resourceId: before.id, change: { before } });
}

export async function getPlan(db: Db, ref: string): Promise<PlanResource> {
  const plan = await plans.findPlan(db, ref);
  if (!plan) throw notFound(`plan "${ref}"`);
  return plan;
}

export function listPlans(db: Db, page: PageRequest, filter: { q?: string }): Promise<Page<PlanResource>> {
  return plans.listPlans(db, page, filter);
}
