/** /v1/issuers */
import { z } from 'zod';
import { IssuerCreateSchema, IssuerPatchSchema, IssuerResourceSchema } from '../../api/issuers.js';
import * as issuers from '../../services/issuers.js';
import type { Route } from '../route.js';
import { crudRoutes } from './crud.js';

export function issuerRoutes(): Route[] {
  return crudRoutes({
    path: '/v1/issuers',
    tag: 'issuers',
    resourceType: 'issuer',
    noun: 'Issuer',
    schemas: { create: IssuerCreateSchema, patch: IssuerPatchSchema, resource: IssuerResourceSchema, filter: z.strictObject({}) },
    summaries: {
      create: 'Trust an OIDC issuer',
      list: 'List trusted issuers',
      get: 'Get an issuer',
      update: 'Change an issuer (merge patch)',
      delete: 'Stop trusting an issuer',
    },
    descriptions: { create: "Without `jwks_uri` the data plane discovers it from the issuer's openid-configuration." },
    conflicts: { create: true, update: true, delete: false },
    create: issuers.createIssuer,
    list: (db, page) => issuers.listIssuers(db, page),
    get: issuers.getIssuer,
    update: issuers.updateIssuer,
    remove: issuers.deleteIssuer,
  });
}
