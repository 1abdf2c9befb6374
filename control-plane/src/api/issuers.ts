/** Trusted OIDC issuers: exactly the data plane's IssuerSpec, plus an id. */
import { z } from 'zod';
import { IssuerSchema } from '../../../authz-service/src/state/schema.js';
import { timestamps } from './common.js';

export const IssuerCreateSchema = IssuerSchema.meta({ id: 'IssuerCreate' });
export type IssuerCreate = z.output<typeof IssuerCreateSchema>;

export const IssuerPatchSchema = IssuerSchema.partial()
  .extend({ jwks_uri: IssuerSchema.shape.jwks_uri.unwrap().nullable().optional() })
  .meta({ id: 'IssuerPatch' });
export type IssuerPatch = z.output<typeof IssuerPatchSchema>;

export const IssuerResourceSchema = IssuerSchema.extend({ id: z.string(), ...timestamps }).meta({ id: 'Issuer' });
export type IssuerResource = z.output<typeof IssuerResourceSchema>;
