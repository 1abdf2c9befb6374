/** Consumers: a person or a service account, optionally linked to OIDC subjects. */
import { z } from 'zod';
import { ConsumerSchema } from '../../../authz-service/src/state/schema.js';
import { resourceRef, timestamps } from './common.js';

export const SubjectSchema = ConsumerSchema.shape.subjects.unwrap().element.meta({ id: 'Subject' });
export type Subject = z.output<typeof SubjectSchema>;

export const CONSUMER_KINDS = ['person', 'service_account'] as const;

const consumerId = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/, 'letters, digits and . _ : @ - only');

export const ConsumerCreateSchema = z
  .strictObject({
    /** Optional: bring your own id (e.g. when migrating); generated otherwise. */
    id: consumerId.optional(),
    name: ConsumerSchema.shape.name,
    kind: z.enum(CONSUMER_KINDS).default('person'),
    plan: resourceRef.optional(),
    /** The OIDC identity whose JWTs are this consumer (shares buckets with its API keys). */
    subject: SubjectSchema.optional(),
    subjects: z.array(SubjectSchema).max(16).optional(),
    disabled: z.boolean().default(false),
  })
  .meta({ id: 'ConsumerCreate' });
export type ConsumerCreate = z.output<typeof ConsumerCreateSchema>;

export const ConsumerPatchSchema = z
  .strictObject({
    name: ConsumerSchema.shape.name,
    kind: z.enum(CONSUMER_KINDS),
    plan: resourceRef.nullable(),
    disabled: z.boolean(),
  })
  .partial()
  .meta({ id: 'ConsumerPatch' });
export type ConsumerPatch = z.output<typeof ConsumerPatchSchema>;

export const ConsumerResourceSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    kind: z.enum(CONSUMER_KINDS),
    plan: z.string().optional(),
    subjects: z.array(SubjectSchema),
    disabled: z.boolean(),
    ...timestamps,
  })
  .meta({ id: 'Consumer' });
export type ConsumerResource = z.output<typeof ConsumerResourceSchema>;

export const ConsumerListQuerySchema = z.strictObject({
  q: z.string().max(200).optional(),
  kind: z.enum(CONSUMER_KINDS).optional(),
  issuer: SubjectSchema.shape.issuer.optional(),
  sub: SubjectSchema.shape.sub.optional(),
});

export const SubjectDeleteQuerySchema = SubjectSchema;
