/**
 * The services resource: the data plane's ServiceSpec (routes, scopes, fail mode, shadow mode, query key
 * …), plus what only the control plane needs (id, display name, self-service). `upstream_url` is accepted
 * as shorthand for a one-element `upstream_urls`.
 */
import { z } from 'zod';
import { ServiceSchema } from '../../../authz-service/src/state/schema.js';
import { resourceRef, timestamps } from './common.js';

const httpUrl = ServiceSchema.shape.upstream_urls.element;

const serviceFields = ServiceSchema.omit({ upstream_urls: true }).extend({
  upstream_url: httpUrl.optional(),
  upstream_urls: ServiceSchema.shape.upstream_urls.optional(),
  /** Plan by name or id. */
  plan: resourceRef.optional(),
  display_name: z.string().min(1).max(200).optional(),
  /** Listed in /v1/me/services, and users may get their own key for it. */
  self_service: z.boolean().default(true),
});

function oneUpstreamForm(s: { upstream_url?: string | null; upstream_urls?: readonly string[] | null }, ctx: z.RefinementCtx): void {
  if (s.upstream_url != null && s.upstream_urls != null) {
    ctx.addIssue({ code: 'custom', path: ['upstream_url'], message: 'give upstream_url or upstream_urls, not both' });
  }
}

export const ServiceCreateSchema = serviceFields
  .superRefine((s, ctx) => {
    oneUpstreamForm(s, ctx);
    if (s.upstream_url === undefined && s.upstream_urls === undefined) {
      ctx.addIssue({ code: 'custom', path: ['upstream_url'], message: 'an upstream_url (or upstream_urls) is required' });
    }
  })
  .meta({ id: 'ServiceCreate' });
export type ServiceCreate = z.output<typeof ServiceCreateSchema>;

export const ServicePatchSchema = serviceFields
  .partial()
  .extend({
    description: z.string().max(1000).nullable().optional(),
    display_name: z.string().min(1).max(200).nullable().optional(),
    plan: resourceRef.nullable().optional(),
    query_key: ServiceSchema.shape.query_key.unwrap().nullable().optional(),
  })
  .superRefine(oneUpstreamForm)
  .meta({ id: 'ServicePatch' });
export type ServicePatch = z.output<typeof ServicePatchSchema>;

/** What the data plane needs beyond name, description and plan, stored whole. */
export type ServiceSettings = Omit<z.output<typeof ServiceSchema>, 'name' | 'description' | 'plan'>;

export const ServiceResourceSchema = ServiceSchema.extend({
  id: z.string(),
  display_name: z.string().optional(),
  self_service: z.boolean(),
  ...timestamps,
}).meta({ id: 'Service' });
export type ServiceResource = z.output<typeof ServiceResourceSchema>;

export const ServiceListQuerySchema = z.strictObject({ q: z.string().max(200).optional() });
