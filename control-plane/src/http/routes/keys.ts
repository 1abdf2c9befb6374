/** /v1/keys: the admin view of every consumer's keys. */
import { EmptyBodySchema, idParam, pageOf, paginationQuery } from '../../api/common.js';
import {
  KeyCreateSchema,
  KeyExtendSchema,
  KeyListQuerySchema,
  KeyPatchSchema,
  KeyResourceSchema,
  KeyRevokeSchema,
  KeyRotateSchema,
  KeyWithSecretSchema,
} from '../../api/keys.js';
import { UsageQuerySchema, UsageReportSchema } from '../../api/usage.js';
import { takeChange } from '../../provisioning/external-change.js';
import { getKey, keyResource, listKeys, type IssuedKey, type KeyLifecycle } from '../../services/keys.js';
import { serviceIdsFor } from '../../services/references.js';
import { keyUsageReport } from '../../services/usage.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';

const tag = 'keys';
const resourceType = 'key';

/** The only shape in which a secret leaves the control plane. */
export function withSecret(issued: IssuedKey, now: Date) {
  return { ...keyResource(issued.record, now.getTime()), key: issued.secret };
}

export function keyRoutes(lifecycle: KeyLifecycle): Route[] {
  return [
    mutation({
      operationId: 'createKey',
      method: 'post',
      path: '/v1/keys',
      summary: 'Create an API key for a consumer',
      description: 'The response carries the secret as `key`: the only time it is ever shown. Send an Idempotency-Key to retry safely.',
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      body: KeyCreateSchema,
      success: { status: 201, description: 'The key with its secret', schema: KeyWithSecretSchema },
      errors: [502],
      prepare: ({ db, body }) =>
        lifecycle.prepareCreate(db, {
          consumerId: body.consumer_id,
          services: body.services,
          limits: body.limits,
          ...(body.name !== undefined ? { name: body.name } : {}),
          ...(body.plan !== undefined ? { plan: body.plan } : {}),
        }),
      handler: async ({ uow, body, prepared }) => {
        const issued = await lifecycle.create(
          uow,
          {
            consumerId: body.consumer_id,
            services: body.services,
            scopes: body.scopes,
            limits: body.limits,
            ...(body.name !== undefined ? { name: body.name } : {}),
            ...(body.plan !== undefined ? { plan: body.plan } : {}),
            ...(body.expires_at !== undefined ? { expiresAt: body.expires_at } : {}),
          },
          takeChange(prepared),
        );
        return { body: withSecret(issued, uow.now) };
      },
    }),
    query({
      operationId: 'listKeys',
      method: 'get',
      path: '/v1/keys',
      summary: 'List keys (metadata and prefix only)',
      description: 'Filters: `consumer_id`, `service` (name or id), `status` (active, expired, revoked, pending_approval).',
      tag,
      access: 'admin',
      query: KeyListQuerySchema.extend(paginationQuery),
      success: { status: 200, description: 'A page of keys', schema: pageOf(KeyResourceSchema) },
      handler: async ({ db, query: q, now }) => {
        const serviceId = q.service === undefined ? undefined : (await serviceIdsFor(db, [q.service], 'query.service'))[0];
        const page = await listKeys(db, pageRequest(q), { consumerId: q.consumer_id, serviceId, status: q.status, now });
        return { body: pageBody(page, (k) => keyResource(k, now.getTime())) };
      },
    }),
    query({
      operationId: 'getKey',
      method: 'get',
      path: '/v1/keys/{id}',
      summary: 'Get a key (metadata and prefix only)',
      tag,
      access: 'admin',
      params: idParam,
      success: { status: 200, description: 'The key', schema: KeyResourceSchema },
      errors: [404],
      handler: async ({ db, params, now }) => ({ body: keyResource(await getKey(db, params.id), now.getTime()) }),
    }),
    mutation({
      operationId: 'updateKey',
      method: 'patch',
      path: '/v1/keys/{id}',
      summary: 'Change name, scopes, services, plan, limits or expiry (merge patch)',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: KeyPatchSchema,
      mergePatch: true,
      success: { status: 200, description: 'The changed key', schema: KeyResourceSchema },
      errors: [404],
      handler: async ({ uow, params, body }) => ({ body: keyResource(await lifecycle.update(uow, params.id, body), uow.now.getTime()) }),
    }),
    mutation({
      operationId: 'revokeKey',
      method: 'post',
      path: '/v1/keys/{id}/revoke',
      summary: 'Revoke a key: every secret of it stops working',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: KeyRevokeSchema,
      bodyOptional: true,
      success: { status: 200, description: 'The revoked key', schema: KeyResourceSchema },
      errors: [404],
      prepare: ({ db, params }) => lifecycle.prepareRevoke(db, params.id),
      handler: async ({ uow, params, body, prepared }) => ({
        body: keyResource(await lifecycle.revoke(uow, params.id, body.reason, undefined, prepared?.use()), uow.now.getTime()),
      }),
    }),
    mutation({
      operationId: 'restoreKey',
      method: 'post',
      path: '/v1/keys/{id}/restore',
      summary: 'Undo a revocation',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: EmptyBodySchema,
      bodyOptional: true,
      success: { status: 200, description: 'The restored key', schema: KeyResourceSchema },
      errors: [404, 409, 502],
      prepare: ({ db, params }) => lifecycle.prepareRestore(db, params.id),
      handler: async ({ uow, params, prepared }) => ({ body: keyResource(await lifecycle.restore(uow, params.id, prepared?.use()), uow.now.getTime()) }),
    }),
    mutation({
      operationId: 'rotateKey',
      method: 'post',
      path: '/v1/keys/{id}/rotate',
      summary: 'New secret for the same key; the old one works for `grace_seconds` more',
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      params: idParam,
      body: KeyRotateSchema,
      bodyOptional: true,
      success: { status: 200, description: 'The key with its new secret', schema: KeyWithSecretSchema },
      errors: [404, 409, 502],
      prepare: ({ db, params }) => lifecycle.prepareRotate(db, params.id),
      handler: async ({ uow, params, body, prepared }) => ({
        body: withSecret(await lifecycle.rotate(uow, params.id, body.grace_seconds, undefined, takeChange(prepared)), uow.now),
      }),
    }),
    mutation({
      operationId: 'extendKey',
      method: 'post',
      path: '/v1/keys/{id}/extend',
      summary: 'Move the expiry of a key later',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: KeyExtendSchema,
      success: { status: 200, description: 'The key', schema: KeyResourceSchema },
      errors: [404, 409],
      handler: async ({ uow, params, body }) => ({ body: keyResource(await lifecycle.extend(uow, params.id, body.expires_at), uow.now.getTime()) }),
    }),
    query({
      operationId: 'getKeyUsage',
      method: 'get',
      path: '/v1/keys/{id}/usage',
      summary: 'Requests per day and last use of a key',
      tag,
      access: 'admin',
      params: idParam,
      query: UsageQuerySchema,
      success: { status: 200, description: 'Usage', schema: UsageReportSchema },
      errors: [404],
      handler: async ({ db, params, query: q, now }) => ({ body: await keyUsageReport(db, await getKey(db, params.id), q, now.getTime()) }),
    }),
  ];
}
