/** /v1/consumers */
import { idParam } from '../../api/common.js';
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
import { mutation, query, type Route } from '../route.js';
import { crudRoutes } from './crud.js';

const tag = 'consumers';
const resourceType = 'consumer';

export function consumerRoutes(): Route[] {
  return [
    ...crudRoutes({
      path: '/v1/consumers',
      tag,
      resourceType,
      noun: 'Consumer',
      schemas: { create: ConsumerCreateSchema, patch: ConsumerPatchSchema, resource: ConsumerResourceSchema, filter: ConsumerListQuerySchema },
      summaries: {
        create: 'Create a consumer (a person or a service account)',
        list: 'List consumers',
        get: 'Get a consumer',
        update: 'Change name, kind, plan or disabled',
        delete: 'Delete a consumer with its keys and usage',
      },
      descriptions: {
        create: "`subject` links an OIDC identity, so the person's JWTs and API keys resolve to this consumer and share buckets.",
        list: 'Filters: `q` (name contains), `kind`, `issuer` and/or `sub` (linked subject).',
      },
      conflicts: { create: true, update: false, delete: false },
      create: consumers.createConsumer,
      list: consumers.listConsumers,
      get: consumers.getConsumer,
      update: consumers.updateConsumer,
      remove: consumers.deleteConsumer,
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
