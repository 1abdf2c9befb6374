/** The plans resource: rate limits in several windows, plus a quota refilled once per period. */
import { z } from 'zod';
import { LimitSchema, PlanSchema, windowSpec } from '../../../authz-service/src/state/schema.js';
import { timestamps } from './common.js';

/** N requests per period, e.g. 100000 per 30d: the budget refills when the period turns over. */
export const QuotaSchema = z.strictObject({
  requests: z.number().int().positive().max(1_000_000_000),
  period: windowSpec,
});

const planFields = PlanSchema.extend({ quota: QuotaSchema.optional() });

/** Windows of limits and the quota period must all differ: two buckets of one window are one bucket. */
function uniqueWindows(plan: { limits?: readonly { window: string }[]; quota?: { period: string } | null }, ctx: z.RefinementCtx): void {
  const seen = new Set<string>();
  plan.limits?.forEach((l, i) => {
    if (seen.has(l.window)) ctx.addIssue({ code: 'custom', path: ['limits', i, 'window'], message: `window "${l.window}" appears twice` });
    seen.add(l.window);
  });
  if (plan.quota && seen.has(plan.quota.period)) {
    ctx.addIssue({ code: 'custom', path: ['quota', 'period'], message: `period "${plan.quota.period}" is also a limit window` });
  }
}

export const PlanCreateSchema = planFields.superRefine(uniqueWindows).meta({ id: 'PlanCreate' });
export type PlanCreate = z.output<typeof PlanCreateSchema>;

export const PlanPatchSchema = planFields
  .partial()
  .extend({ description: z.string().max(1000).nullable().optional(), quota: QuotaSchema.nullable().optional() })
  .superRefine(uniqueWindows)
  .meta({ id: 'PlanPatch' });
export type PlanPatch = z.output<typeof PlanPatchSchema>;

export const PlanResourceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    description: z.string().optional(),
    limits: z.array(LimitSchema),
    bucket: z.enum(['consumer', 'key']),
    quota: QuotaSchema.optional(),
    ...timestamps,
  })
  .meta({ id: 'Plan' });
export type PlanResource = z.output<typeof PlanResourceSchema>;

export const PlanListQuerySchema = z.strictObject({ q: z.string().max(200).optional() });
