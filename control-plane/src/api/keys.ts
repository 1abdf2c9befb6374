/**
 * API keys. The secret (`key`) appears in exactly two responses, create and rotate, and nowhere else;
 * every other view shows the display prefix and metadata only.
 */
import { z } from 'zod';
import { KeySchema, LimitSchema } from '../../../authz-service/src/state/schema.js';
import { isoTimestamp, resourceRef, timestamps } from './common.js';

export const MAX_KEY_SERVICES = 64;
export const MAX_KEY_SCOPES = 64;
/** A grace period longer than this is a second key, not a rotation. */
export const MAX_GRACE_SECONDS = 30 * 86_400;

const keyName = z.string().min(1).max(200);
const scopes = KeySchema.shape.scopes.unwrap().max(MAX_KEY_SCOPES);
/** Service names or ids; an empty list means every service. */
const serviceRefs = z.array(resourceRef).max(MAX_KEY_SERVICES);

export const KeyCreateSchema = z
  .strictObject({
    consumer_id: resourceRef,
    name: keyName.optional(),
    services: serviceRefs,
    scopes: scopes.default([]),
    plan: resourceRef.optional(),
    limits: KeySchema.shape.limits,
    expires_at: isoTimestamp.optional(),
  })
  .meta({ id: 'KeyCreate' });
export type KeyCreate = z.output<typeof KeyCreateSchema>;

export const KeyPatchSchema = z
  .strictObject({
    name: keyName.nullable(),
    services: serviceRefs,
    scopes,
    plan: resourceRef.nullable(),
    limits: KeySchema.shape.limits.unwrap(),
    expires_at: isoTimestamp.nullable(),
  })
  .partial()
  .meta({ id: 'KeyPatch' });
export type KeyPatch = z.output<typeof KeyPatchSchema>;

export const KeyRotateSchema = z
  .strictObject({
    /** How long the superseded secret keeps working; 0 ends it now. */
    grace_seconds: z.number().int().min(0).max(MAX_GRACE_SECONDS).default(0),
  })
  .meta({ id: 'KeyRotate' });
export type KeyRotate = z.output<typeof KeyRotateSchema>;

export const KeyRevokeSchema = z.strictObject({ reason: z.string().max(500).optional() }).meta({ id: 'KeyRevoke' });
export type KeyRevoke = z.output<typeof KeyRevokeSchema>;

export const KeyExtendSchema = z.strictObject({ expires_at: isoTimestamp }).meta({ id: 'KeyExtend' });
export type KeyExtend = z.output<typeof KeyExtendSchema>;

/**
 * `pending_approval`: the key's system of record (3scale, for a plan whose applications require approval)
 * has not approved it yet. It opens nothing until then (`revoked` is true), and becomes `active` by itself
 * once approved; revoking it makes it `revoked` for good.
 */
export const KEY_STATUSES = ['active', 'expired', 'revoked', 'pending_approval'] as const;
export type KeyStatus = (typeof KEY_STATUSES)[number];

export const KeyResourceSchema = z
  .object({
    id: z.string(),
    consumer_id: z.string(),
    name: z.string().optional(),
    /** Shown to help people tell keys apart; never enough to use one. */
    prefix: z.string(),
    services: z.array(z.string()),
    scopes: z.array(z.string()),
    plan: z.string().optional(),
    limits: z.array(LimitSchema),
    expires_at: isoTimestamp.optional(),
    /** True while the key opens nothing: revoked, or still awaiting approval (see `status`). */
    revoked: z.boolean(),
    /** Since when the key opens nothing (for a key awaiting approval: its creation). */
    revoked_at: isoTimestamp.optional(),
    status: z.enum(KEY_STATUSES),
    /** Secrets that currently open this key; after a rotation the old one is listed until its grace ends. */
    secrets: z.array(z.object({ prefix: z.string(), created_at: isoTimestamp, not_after: isoTimestamp.optional() })),
    last_used_at: isoTimestamp.optional(),
    ...timestamps,
  })
  .meta({ id: 'Key' });
export type KeyResource = z.output<typeof KeyResourceSchema>;

export const KeyWithSecretSchema = KeyResourceSchema.extend({
  /** The secret. Returned only here; store it now. */
  key: z.string(),
}).meta({ id: 'KeyWithSecret' });
export type KeyWithSecret = z.output<typeof KeyWithSecretSchema>;

export const KeyListQuerySchema = z.strictObject({
  consumer_id: resourceRef.optional(),
  service: resourceRef.optional(),
  status: z.enum(KEY_STATUSES).optional(),
});

/** Self-service: a user's own key. No plan, limits or foreign consumer; scopes only from the caller's own. */
export const MyKeyCreateSchema = z
  .strictObject({
    name: keyName.optional(),
    services: serviceRefs.min(1).max(16),
    scopes: scopes.default([]),
    expires_at: isoTimestamp.optional(),
  })
  .meta({ id: 'MyKeyCreate' });
export type MyKeyCreate = z.output<typeof MyKeyCreateSchema>;

export const MyKeyPatchSchema = z.strictObject({ name: keyName.nullable() }).partial().meta({ id: 'MyKeyPatch' });
export type MyKeyPatch = z.output<typeof MyKeyPatchSchema>;
