/** /v1/services */
import { ServiceCreateSchema, ServiceListQuerySchema, ServicePatchSchema, ServiceResourceSchema } from '../../api/services.js';
import * as registry from '../../services/service-registry.js';
import type { Route } from '../route.js';
import { crudRoutes } from './crud.js';

export function serviceRoutes(): Route[] {
  return crudRoutes({
    path: '/v1/services',
    tag: 'services',
    resourceType: 'service',
    noun: 'Service',
    schemas: { create: ServiceCreateSchema, patch: ServicePatchSchema, resource: ServiceResourceSchema, filter: ServiceListQuerySchema },
    summaries: {
      create: 'Register an upstream service',
      list: 'List services',
      get: 'Get a service by id or name',
      update: 'Change a service (merge patch; null removes an optional field)',
      delete: 'Delete a service no key is bound to',
    },
    descriptions: {
      create: "`upstream_url` is shorthand for a one-element `upstream_urls`. Everything in the data plane's service spec (routes, scopes, fail_mode, mode, query_key …) is accepted.",
      list: 'Filter: `q` (name contains).',
    },
    conflicts: { create: true, update: true, delete: true },
    create: registry.createService,
    list: registry.listServices,
    get: registry.getService,
    update: registry.updateService,
    remove: registry.deleteService,
  });
}
