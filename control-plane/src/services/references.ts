/** Turning names-or-ids in request bodies into row ids, with field-level errors for what does not exist. */
import { ProblemError, type FieldError } from '../problem-error.js';
import type { ServiceTarget } from '../provisioning/provisioner.js';
import { consumerExists } from '../store/consumers.js';
import { findPlan } from '../store/plans.js';
import type { Db } from '../store/rows.js';
import { resolveServiceRefs } from '../store/services.js';

export async function planIdFor(db: Db, ref: string | undefined | null, path = 'body.plan'): Promise<string | undefined> {
  if (ref === undefined || ref === null) return undefined;
  const plan = await findPlan(db, ref);
  if (!plan) throw new ProblemError('validation_failed', `${path}: no plan "${ref}"`, [{ path, message: `no plan "${ref}"` }]);
  return plan.id;
}

export async function serviceIdsFor(db: Db, refs: readonly string[], path = 'body.services'): Promise<string[]> {
  const { ids, missing } = await resolveServiceRefs(db, refs);
  if (missing.length > 0) {
    const errors: FieldError[] = refs.flatMap((ref, i) => (missing.includes(ref) ? [{ path: `${path}[${i}]`, message: `no service "${ref}"` }] : []));
    throw new ProblemError('validation_failed', `${path}: unknown service ${missing.map((m) => `"${m}"`).join(', ')}`, errors);
  }
  return refs.map((ref) => ids.get(ref)!);
}

export async function requireConsumer(db: Db, id: string, path = 'body.consumer_id'): Promise<void> {
  if (!(await consumerExists(db, id))) throw new ProblemError('validation_failed', `${path}: no consumer "${id}"`, [{ path, message: `no consumer "${id}"` }]);
}

/** Service refs resolved to ids and names, in request order. */
export async function serviceTargetsFor(db: Db, refs: readonly string[], path = 'body.services'): Promise<ServiceTarget[]> {
  const ids = await serviceIdsFor(db, refs, path);
  if (ids.length === 0) return [];
  const rows = (await db('services').whereIn('id', ids).select('id', 'name')) as ServiceTarget[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  return ids.map((id) => byId.get(id)!);
}
