/** The audit log: append-only, admin-readable. */
import { z } from 'zod';
import { isoTimestamp } from './common.js';

export const AUDIT_OUTCOMES = ['success', 'denied', 'failed'] as const;
export type AuditOutcome = (typeof AUDIT_OUTCOMES)[number];

export const AuditEntrySchema = z
  .object({
    id: z.string(),
    at: isoTimestamp,
    actor: z.object({ kind: z.string(), id: z.string(), consumer_id: z.string().optional() }),
    action: z.string(),
    resource_type: z.string().optional(),
    resource_id: z.string().optional(),
    /** success; denied (401/403); failed (any other error). */
    outcome: z.enum(AUDIT_OUTCOMES),
    status: z.number().int(),
    code: z.string().optional(),
    request_id: z.string(),
    ip: z.string().optional(),
    user_agent: z.string().optional(),
    /** Never a secret. The summary shape is RepeatSummary in services/refusal-coalescer.ts. */
    change: z.unknown().optional().meta({
      description:
        'What changed (before/after). On a failed or denied row that stands for repeated attempts (same caller, action, status and code within a window): {"repeated": n, "first_at": ..., "last_at": ...}, and "overflow": true when the repeats came from many callers (actor "various").',
    }),
  })
  .meta({ id: 'AuditEntry' });
export type AuditEntry = z.output<typeof AuditEntrySchema>;

export const AuditListQuerySchema = z.strictObject({
  actor_id: z.string().max(300).optional(),
  action: z.string().max(100).optional(),
  resource_type: z.string().max(50).optional(),
  resource_id: z.string().max(300).optional(),
  outcome: z.enum(AUDIT_OUTCOMES).optional(),
  since: isoTimestamp.optional(),
  until: isoTimestamp.optional(),
});
export type AuditListQuery = z.output<typeof AuditListQuerySchema>;
