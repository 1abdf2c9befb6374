/** Usage: per key and per consumer, requests per day and last use. Fed in batches by the data plane. */
import { z } from 'zod';
import { isoDay, isoTimestamp, resourceRef } from './common.js';

export const MAX_USAGE_ENTRIES = 10_000;

export const UsageEntrySchema = z.strictObject({
  consumer_id: resourceRef,
  /** Absent for requests made with a JWT. */
  key_id: resourceRef.optional(),
  day: isoDay,
  /** Requests allowed. */
  requests: z.number().int().min(0).max(1_000_000_000_000),
  /** Requests denied after the caller was identified (scope, service, rate limit); default 0. */
  denied: z.number().int().min(0).max(1_000_000_000_000).optional(),
  last_used_at: isoTimestamp,
});

export const UsageBatchSchema = z
  .strictObject({
    /** Unique per batch; a batch sent twice is counted once. */
    batch_id: z.string().min(1).max(128).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces'),
    entries: z.array(UsageEntrySchema).max(MAX_USAGE_ENTRIES),
  })
  .meta({ id: 'UsageBatch' });
export type UsageBatch = z.output<typeof UsageBatchSchema>;

export const UsageBatchResultSchema = z
  .object({
    batch_id: z.string(),
    duplicate: z.boolean(),
    accepted: z.number().int(),
    /** Entries for keys or consumers that no longer exist. */
    skipped: z.number().int(),
  })
  .meta({ id: 'UsageBatchResult' });

export const UsageQuerySchema = z.strictObject({
  /** Inclusive, UTC days; default: the last 30 days. */
  from: isoDay.optional(),
  to: isoDay.optional(),
});
export type UsageQuery = z.output<typeof UsageQuerySchema>;

export const UsageReportSchema = z
  .object({
    key_id: z.string().optional(),
    consumer_id: z.string(),
    from: isoDay,
    to: isoDay,
    total: z.number().int(),
    last_used_at: isoTimestamp.optional(),
    /** `denied`: requests refused after the caller was identified, on days with any. */
    days: z.array(z.object({ day: isoDay, requests: z.number().int(), denied: z.number().int().optional() })),
  })
  .meta({ id: 'UsageReport' });
export type UsageReport = z.output<typeof UsageReportSchema>;
