/** /v1/issuers */
import { idParam, pageOf, paginationQuery } from '../../api/common.js';
import { IssuerCreateSchema, IssuerPatchSchema, IssuerResourceSchema } from '../../api/issuers.js';
import * as issuers from '../../services/issuers.js';
import { pageBody, pageRequest } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';
import { z } from 'zod';

const tag = 'issuers';
const resourceType = 'issuer';

export function issuerRoutes(): Route[] {
  return [
    mutation({
      operationId: 'createIssuer',
      method: 'post',
      path: '/v1/issuers',
      summary: 'Trust an OIDC issuer',
      description: 'Without `jwks_uri` the data plane discovers it from the issuer\'s openid-configuration.',
      tag,
      resourceType,
      access: 'admin',
      idempotent: true,
      body: IssuerCreateSchema,
      success: { status: 201, description: 'The issuer', schema: IssuerResourceSchema },
      errors: [409],
      handler: async ({ uow, body }) => ({ body: await issuers.createIssuer(uow, body) }),
    }),
    query({
      operationId: 'listIssuers',
      method: 'get',
      path: '/v1/issuers',
      summary: 'List trusted issuers',
      tag,
      access: 'admin',
      query: z.strictObject(paginationQuery),
      success: { status: 200, description: 'A page of issuers', schema: pageOf(IssuerResourceSchema) },
      handler: async ({ db, query: q }) => ({ body: pageBody(await issuers.listIssuers(db, pageRequest(q))) }),
    }),
    query({
      operationId: 'getIssuer',
      method: 'get',
      path: '/v1/issuers/{id}',
      summary: 'Get an issuer',
      tag,
      access: 'admin',
      params: idParam,
      success: { status: 200, description: 'The issuer', schema: IssuerResourceSchema },
      errors: [404],
      handler: async ({ db, params }) => ({ body: await issuers.getIssuer(db, params.id) }),
    }),
    mutation({
      operationId: 'updateIssuer',
      method: 'patch',
      path: '/v1/issuers/{id}',
      summary: 'Change an issuer (merge patch)',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      body: IssuerPatchSchema,
      mergePatch: true,
      success: { status: 200, description: 'The changed issuer', schema: IssuerResourceSchema },
      errors: [404, 409],
      handler: async ({ uow, params, body }) => ({ body: await issuers.updateIssuer(uow, params.id, body) }),
    }),
    mutation({
      operationId: 'deleteIssuer',
      method: 'delete',
      path: '/v1/issuers/{id}',
      summary: 'Stop trusting an issuer',
      tag,
      resourceType,
      access: 'admin',
      params: idParam,
      success: { status: 204, description: 'Deleted' },
      errors: [404],
      handler: async ({ uow, params }) => {
        await issuers.deleteIssuer(uow, params.id);
        return { status: 204 };
      },
    }),
  ];
}
