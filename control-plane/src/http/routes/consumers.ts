/** /v1/consumers */
import { idParam, pageOf, paginationQuery } from '../../api/common.js';
import {
  ConsumerCreateSchema,
  ConsumerListQuerySchema,
  ConsumerPatchSchema,
  ConsumerResourceSchema,
  SubjectDeleteQuerySchema,
  SubjectSchema,
} from '../../api/consumers.js';
import { UsageQuerySchema, UsageReportSchema } from '../../api/usage.js';
import * as consumers from '../../services/consumers.js';
import { consumerUsageReport } from '../../services/usage.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';

const tag = 'consumers';
const resourceType = 'consumer';

export function consumerRoutes(): Route[] {
  return [
    mutation({
      operationId: 'createConsumer',
      method: 'post',
      path: '/v1/consumers',
      summary: 'Create a consumer (a person or a service account)',
      description: '`subject` links an OIDC identity, so the person\'s JWTs and API keys resolve to this consumer and share buckets.',
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      body: ConsumerCreateSchema,
      success: { status: 201, description: 'The consumer', schema: ConsumerResourceSchema },
      errors: [409],
      handler: async ({ uow, body }) => ({ body: await consumers.createConsumer(uow, body) }),
    }),
    query({
      operationId: 'listConsumers',
      method: 'get',
      path: '/v1/consumers',
      summary: 'List consumers',
      description: 'Filters: `q` (name contains), `kind`, `issuer` and/or `sub` (linked subject).',
      tag,
      access: 'admin',
      query: ConsumerListQuerySchema.extend(paginationQuery),
      success: { status: 200, description: 'A page of consumers', schema: pageOf(ConsumerResourceSchema) },
      handler: async ({ db, query: q }) => ({
        body: pageBody(await consumers.listConsumers(db, pageRequest(q), { q: q.q, kind: q.kind, issuer: q.issuer, sub: q.sub })),
      }),
    }),
    query({
      operationId: 'getConsumer',
      method: 'get',
      path: '/v1/consumers/{id}',
      summary: 'Get a consumer',
      tag,
      access: 'admin',
      params: idParam,
      success: { status: 200, description: 'The consumer', schema: ConsumerResourceSchema },
      errors: [404],
      handler: async ({ db, params }) => ({ body: await consumers.getConsumer(db, params.id) }),
    }),
    mutation({
      operationId: 'updateConsumer',
      method: 'patch',
      path: '/v1/consumers/{id}',
      summary: 'Change name, kind, plan or disabled',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: ConsumerPatchSchema,
      mergePatch: true,
      success: { status: 200, description: 'The changed consumer', schema: ConsumerResourceSchema },
      errors: [404],
      handler: async ({ uow, params, body }) => ({ body: await consumers.updateConsumer(uow, params.id, body) }),
    }),
    mutation({
      operationId: 'deleteConsumer',
      method: 'delete',
      path: '/v1/consumers/{id}',
      summary: 'Delete a consumer with its keys and usage',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async ({ uow, params }) => {
        await consumers.deleteConsumer(uow, params.id);
        return { status: 204 };
      },
    }),
    mutation({
      operationId: 'linkConsumerSubject',
      method: 'post',
      path: '/v1/consumers/{id}/subjects',
      summary: 'Link an OIDC subject to the consumer',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: SubjectSchema,
      success: { status: 200, description: 'The consumer', schema: ConsumerResourceSchema },
      errors: [404, 409],
      handler: async ({ uow, params, body }) => ({ body: await consumers.linkSubject(uow, params.id, body) }),
    }),
    mutation({
      operationId: 'unlinkConsumerSubject',
      method: 'delete',
      path: '/v1/consumers/{id}/subjects',
      summary: 'Unlink an OIDC subject (given as `issuer` and `sub` query parameters)',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      query: SubjectDeleteQuerySchema,
      success: { status: 200, description: 'The consumer', schema: ConsumerResourceSchema },
      errors: [404],
      handler: async ({ uow, params, query: q }) => ({ body: await consumers.unlinkSubject(uow, params.id, q) }),
    }),
    query({
      operationId: 'getConsumerUsage',
      method: 'get',
      path: '/v1/consumers/{id}/usage',
      summary: 'Requests per day and last use of a consumer (all its keys and tokens)',
      tag,
      access: 'admin',
      params: idParam,
      query: UsageQuerySchema,
      success: { status: 200, description: 'Usage', schema: UsageReportSchema },
      errors: [404],
      handler: async ({ db, params, query: q, now }) => {
        const consumer = await consumers.getConsumer(db, params.id);
        return { body: await consumerUsageReport(db, consumer.id, q, now.getTime()) };
      },
    }),
  ];
}
