/** /v1/services */
import { idParam, pageOf, paginationQuery } from '../../api/common.js';
import { ServiceCreateSchema, ServiceListQuerySchema, ServicePatchSchema, ServiceResourceSchema } from '../../api/services.js';
import * as registry from '../../services/service-registry.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';

const tag = 'services';
const resourceType = 'service';

export function serviceRoutes(): Route[] {
  return [
    mutation({
      operationId: 'createService',
      method: 'post',
      path: '/v1/services',
      summary: 'Register an upstream service',
      description: '`upstream_url` is shorthand for a one-element `upstream_urls`. Everything in the data plane\'s service spec (routes, scopes, fail_mode, mode, query_key …) is accepted.',
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      body: ServiceCreateSchema,
      success: { status: 201, description: 'The service', schema: ServiceResourceSchema },
      errors: [409],
      handler: async ({ uow, body }) => ({ body: await registry.createService(uow, body) }),
    }),
    query({
      operationId: 'listServices',
      method: 'get',
      path: '/v1/services',
      summary: 'List services',
      tag,
      access: 'admin',
      query: ServiceListQuerySchema.extend(paginationQuery),
      success: { status: 200, description: 'A page of services', schema: pageOf(ServiceResourceSchema) },
      handler: async ({ db, query: q }) => ({ body: pageBody(await registry.listServices(db, pageRequest(q), { q: q.q })) }),
    }),
    query({
      operationId: 'getService',
      method: 'get',
      path: '/v1/services/{id}',
      summary: 'Get a service by id or name',
      tag,
      access: 'admin',
      params: idParam,
      success: { status: 200, description: 'The service', schema: ServiceResourceSchema },
      errors: [404],
      handler: async ({ db, params }) => ({ body: await registry.getService(db, params.id) }),
    }),
    mutation({
      operationId: 'updateService',
      method: 'patch',
      path: '/v1/services/{id}',
      summary: 'Change a service (merge patch; null removes an optional field)',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: ServicePatchSchema,
      mergePatch: true,
      success: { status: 200, description: 'The changed service', schema: ServiceResourceSchema },
      errors: [404, 409],
      handler: async ({ uow, params, body }) => ({ body: await registry.updateService(uow, params.id, body) }),
    }),
    mutation({
      operationId: 'deleteService',
      method: 'delete',
      path: '/v1/services/{id}',
      summary: 'Delete a service no key is bound to',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      success: { status: 204, description: 'Deleted' },
      errors: [404, 409],
      handler: async ({ uow, params }) => {
        await registry.deleteService(uow, params.id);
        return { status: 204 };
      },
    }),
  ];
}
