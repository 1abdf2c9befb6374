/** What a 3scale reconciliation changed, as the API reports it. */
import { z } from 'zod';
import { isoTimestamp } from './common.js';

const ChangeItemSchema = z.object({
  /** Absent for applications no key mirrors (orphans, unlinked). */
  key_id: z.string().optional(),
  application_id: z.string(),
  /** Portcullis service name. */
  service: z.string(),
});
export type ReconcileItem = z.output<typeof ChangeItemSchema>;

const ChangeSchema = z.object({ count: z.number().int(), items: z.array(ChangeItemSchema) });
export type ReconcileChange = z.output<typeof ChangeSchema>;

export const RECONCILE_CHANGES = ['imported', 'rotated', 'replanned', 'suspended', 'resumed', 'approved', 'revoked', 'suspensions_sent', 'orphans_deleted'] as const;
export type ReconcileChangeKind = (typeof RECONCILE_CHANGES)[number];

export const ReconcileReportSchema = z
  .object({
    started_at: isoTimestamp,
    finished_at: isoTimestamp,
    /** Portcullis services checked, and those skipped (3scale or Portcullis service missing): never revoked wholesale. */
    services: z.object({ checked: z.array(z.string()), skipped: z.array(z.object({ service: z.string(), reason: z.string() })) }),
    /** 3scale applications seen across the checked services. */
    applications: z.number().int(),
    /** Total number of changes made. */
    changed: z.number().int(),
    /**
     * imported: new applications of linked accounts mirrored as keys; rotated: user_key changed in 3scale;
     * replanned: application plan (or its limits) changed; suspended/resumed: application state followed;
     * approved: an application awaiting approval was accepted, so its key became active;
     * revoked: the application vanished; suspensions_sent: revocations that had not reached 3scale;
     * orphans_deleted: applications created for keys that were never stored.
     */
    changes: z.object(Object.fromEntries(RECONCILE_CHANGES.map((c) => [c, ChangeSchema])) as Record<ReconcileChangeKind, typeof ChangeSchema>),
    /** Applications of 3scale accounts no consumer is linked to yet (left alone; linked on the user's first key). */
    unlinked: ChangeSchema,
    /** What could not be reconciled, and why (e.g. a plan mapped to a Portcullis plan that does not exist). */
    problems: z.array(z.string()),
  })
  .meta({ id: 'ThreescaleReconcileReport' });
export type ReconcileReport = z.output<typeof ReconcileReportSchema>;
