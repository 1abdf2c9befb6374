/**
 * /v1/me: self-service for any authenticated user. Every key lookup is scoped to the caller's consumer,
 * so a foreign key id answers 404 exactly like one that does not exist.
 */
import { z } from 'zod';
import { EmptyBodySchema, pageOf, paginationQuery, resourceRef } from '../../api/common.js';
import { ConsumerResourceSchema } from '../../api/consumers.js';
import { KEY_STATUSES, KeyResourceSchema, KeyRevokeSchema, KeyRotateSchema, KeyWithSecretSchema, MyKeyCreateSchema, MyKeyPatchSchema } from '../../api/keys.js';
import { UsageQuerySchema, UsageReportSchema } from '../../api/usage.js';
import { getKey, keyResource, listKeys, type KeyLifecycle } from '../../services/keys.js';
import { takeChange } from '../../provisioning/external-change.js';
import { createMyKey, me, myServices, prepareMyKey, prepareServiceKey, serviceKey } from '../../services/self-service.js';
import { consumerUsageReport, keyUsageReport } from '../../services/usage.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';
import { withSecret } from './keys.js';

const tag = 'self-service';
const resourceType = 'key';
const keyParam = z.strictObject({ id: resourceRef });

const MeSchema = z
  .object({
    actor: z.object({
      kind: z.string(),
      id: z.string(),
      admin: z.boolean(),
      key_id: z.string().optional(),
      issuer: z.string().optional(),
      subject: z.string().optional(),
    }),
    consumer: ConsumerResourceSchema,
  })
  .meta({ id: 'Me' });

const MyServiceSchema = z
  .object({
    name: z.string(),
    display_name: z.string().optional(),
    description: z.string().optional(),
    credentials: z.array(z.string()),
    api_keys: z.boolean(),
    has_key: z.boolean(),
    key: z.object({ id: z.string(), prefix: z.string() }).optional(),
  })
  .meta({ id: 'MyService' });

const ServiceKeySchema = z
  .object({
    created: z.boolean(),
    /** With `key` (the secret) only when this call created it. */
    key: KeyResourceSchema.extend({ key: z.string().optional() }),
  })
  .meta({ id: 'ServiceKey' });

export function meRoutes(lifecycle: KeyLifecycle): Route[] {
  return [
    query({
      operationId: 'getMe',
      method: 'get',
      path: '/v1/me',
      summary: 'Who am I: the credential and the consumer behind it',
      tag,
      access: 'self',
      success: { status: 200, description: 'The caller', schema: MeSchema },
      handler: async ({ db, caller, consumerId }) => ({ body: await me(db, caller, consumerId) }),
    }),
    query({
      operationId: 'listMyServices',
      method: 'get',
      path: '/v1/me/services',
      summary: 'Services I may use, each with whether I already hold a key for it',
      tag,
      access: 'self',
      query: z.strictObject(paginationQuery),
      success: { status: 200, description: 'A page of services', schema: pageOf(MyServiceSchema) },
      handler: async ({ db, consumerId, query: q, now }) => ({ body: pageBody(await myServices(db, consumerId, pageRequest(q), now)) }),
    }),
    mutation({
      operationId: 'getOrCreateMyServiceKey',
      method: 'post',
      path: '/v1/me/services/{service}/key',
      summary: 'My key for a service, created if I hold none',
      description: 'Answers 201 with the secret when it creates the key, 200 without it when I already hold one (active, or still `pending_approval`).',
      tag,
      resourceType,
      access: 'self',
      params: z.strictObject({ service: resourceRef }),
      body: EmptyBodySchema,
      bodyOptional: true,
      success: { status: 201, description: 'Created; `key.key` is the secret, shown this once', schema: ServiceKeySchema },
      alsoSucceeds: [{ status: 200, description: 'The key I already hold, without its secret', schema: ServiceKeySchema }],
      errors: [404, 409, 502],
      prepare: ({ db, consumerId, params, now }) => prepareServiceKey(db, lifecycle, consumerId, params.service, now),
      handler: async ({ uow, consumerId, params, prepared }) => {
        const result = await serviceKey(uow, lifecycle, consumerId, params.service, prepared);
        return result.created
          ? { status: 201, body: { created: true, key: withSecret(result.issued, uow.now) } }
          : { status: 200, body: { created: false, key: keyResource(result.record, uow.now.getTime()) } };
      },
    }),
    query({
      operationId: 'listMyKeys',
      method: 'get',
      path: '/v1/me/keys',
      summary: 'My keys',
      tag,
      access: 'self',
      query: z.strictObject({ status: z.enum(KEY_STATUSES).optional(), ...paginationQuery }),
      success: { status: 200, description: 'A page of my keys', schema: pageOf(KeyResourceSchema) },
      handler: async ({ db, consumerId, query: q, now }) => {
        const page = await listKeys(db, pageRequest(q), { consumerId, status: q.status, now });
        return { body: pageBody(page, (k) => keyResource(k, now.getTime())) };
      },
    }),
    mutation({
      operationId: 'createMyKey',
      method: 'post',
      path: '/v1/me/keys',
      summary: 'Create a key for myself',
      description: 'Only self-service services; scopes only from those my own credential carries.',
      tag,
      resourceType,
      access: 'self',
      idempotent: true,
      body: MyKeyCreateSchema,
      success: { status: 201, description: 'The key with its secret', schema: KeyWithSecretSchema },
      errors: [409, 502],
      prepare: ({ db, caller, consumerId, body, now }) => prepareMyKey(db, caller, lifecycle, consumerId, body, now),
      handler: async ({ uow, consumerId, body, prepared }) => ({ body: withSecret(await createMyKey(uow, lifecycle, consumerId, body, takeChange(prepared)), uow.now) }),
    }),
    query({
      operationId: 'getMyKey',
      method: 'get',
      path: '/v1/me/keys/{id}',
      summary: 'One of my keys',
      tag,
      access: 'self',
      params: keyParam,
      success: { status: 200, description: 'The key', schema: KeyResourceSchema },
      errors: [404],
      handler: async ({ db, consumerId, params, now }) => ({ body: keyResource(await getKey(db, params.id, consumerId), now.getTime()) }),
    }),
    mutation({
      operationId: 'updateMyKey',
      method: 'patch',
      path: '/v1/me/keys/{id}',
      summary: 'Rename one of my keys',
      tag,
      resourceType,
      access: 'self',
      params: keyParam,
      body: MyKeyPatchSchema,
      mergePatch: true,
      success: { status: 200, description: 'The key', schema: KeyResourceSchema },
      errors: [404],
      handler: async ({ uow, consumerId, params, body }) => ({ body: keyResource(await lifecycle.update(uow, params.id, body, consumerId), uow.now.getTime()) }),
    }),
    mutation({
      operationId: 'rotateMyKey',
      method: 'post',
      path: '/v1/me/keys/{id}/rotate',
      summary: 'New secret for one of my keys',
      tag,
      resourceType,
      access: 'self',
      idempotent: true,
      params: keyParam,
      body: KeyRotateSchema,
      bodyOptional: true,
      success: { status: 200, description: 'The key with its new secret', schema: KeyWithSecretSchema },
      errors: [404, 409, 502],
      prepare: ({ db, consumerId, params }) => lifecycle.prepareRotate(db, params.id, consumerId),
      handler: async ({ uow, consumerId, params, body, prepared }) => ({
        body: withSecret(await lifecycle.rotate(uow, params.id, body.grace_seconds, consumerId, takeChange(prepared)), uow.now),
      }),
    }),
    mutation({
      operationId: 'revokeMyKey',
      method: 'post',
      path: '/v1/me/keys/{id}/revoke',
      summary: 'Revoke one of my keys',
      tag,
      resourceType,
      access: 'self',
      params: keyParam,
      body: KeyRevokeSchema,
      bodyOptional: true,
      success: { status: 200, description: 'The revoked key', schema: KeyResourceSchema },
      errors: [404],
      prepare: ({ db, consumerId, params }) => lifecycle.prepareRevoke(db, params.id, consumerId),
      handler: async ({ uow, consumerId, params, body, prepared }) => ({
        body: keyResource(await lifecycle.revoke(uow, params.id, body.reason, consumerId, prepared?.use()), uow.now.getTime()),
      }),
    }),
    query({
      operationId: 'getMyKeyUsage',
      method: 'get',
      path: '/v1/me/keys/{id}/usage',
      summary: 'Usage of one of my keys',
      tag,
      access: 'self',
      params: keyParam,
      query: UsageQuerySchema,
      success: { status: 200, description: 'Usage', schema: UsageReportSchema },
      errors: [404],
      handler: async ({ db, consumerId, params, query: q, now }) => ({ body: await keyUsageReport(db, await getKey(db, params.id, consumerId), q, now.getTime()) }),
    }),
    query({
      operationId: 'getMyUsage',
      method: 'get',
      path: '/v1/me/usage',
      summary: 'My usage across all my keys and tokens',
      tag,
      access: 'self',
      query: UsageQuerySchema,
      success: { status: 200, description: 'Usage', schema: UsageReportSchema },
      handler: async ({ db, consumerId, query: q, now }) => ({ body: await consumerUsageReport(db, consumerId, q, now.getTime()) }),
    }),
  ];
}

