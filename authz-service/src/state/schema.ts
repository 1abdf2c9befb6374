/**
 * The declarative authorization state: services and routes, plans, trusted issuers, consumers and key
 * hashes. One schema serves the data plane's DB-less file mode, the control plane's export and the sync
 * snapshots, so there is exactly one definition of what the data plane knows.
 *
 * Field names are snake_case because people write this as YAML and it travels as JSON.
 */
import { z } from 'zod';

export const SLUG = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
export const slug = z.string().regex(SLUG, 'must be a lower-case slug (a-z, 0-9, "-"), at most 63 characters');

/** "10s", "1m", "1h", "1d", "30d". */
export const WINDOW = /^([1-9][0-9]{0,5})(s|m|h|d)$/;
export const windowSpec = z.string().regex(WINDOW, 'must look like 1s, 10s, 1m, 1h, 1d or 30d');

const UNIT_SECONDS = { s: 1, m: 60, h: 3600, d: 86400 } as const;
export function windowSeconds(window: string): number {
  const m = WINDOW.exec(window);
  if (!m) throw new RangeError(`bad window ${window}`);
  return Number(m[1]) * UNIT_SECONDS[m[2] as keyof typeof UNIT_SECONDS];
}

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'TRACE', 'CONNECT'] as const;
const method = z.string().transform((m) => m.toUpperCase()).pipe(z.enum(HTTP_METHODS));

const pathPrefix = z
  .string()
  .max(1024)
  .regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/, 'must be an absolute path such as /v1/chat')
  .refine((p) => !/(^|\/)\.\.?(\/|$)/.test(p) && !p.includes('//'), 'must not contain dot segments or "//"');

const host = z
  .string()
  .max(253)
  .transform((h) => h.toLowerCase())
  .pipe(z.string().regex(/^(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/, 'must be a host name, optionally starting with "*."'));

const httpUrl = z.url({ protocol: /^https?$/ });
const scopeName = z.string().min(1).max(200).regex(/^[\x21-\x7e]+$/, 'must be printable ASCII without spaces');
const isoDate = z.iso.datetime({ offset: true });

export const LimitSchema = z.strictObject({
  window: windowSpec,
  requests: z.number().int().positive().max(1_000_000_000),
});
export type LimitSpec = z.infer<typeof LimitSchema>;

export const PlanSchema = z.strictObject({
  name: slug,
  description: z.string().max(1000).optional(),
  /** Every window applies at once: 10/s and 10000/d means both. */
  limits: z.array(LimitSchema).max(16).default([]),
  /** Whose requests share a bucket: all of a consumer's keys (default), or each key on its own. */
  bucket: z.enum(['consumer', 'key']).default('consumer'),
});
export type PlanSpec = z.infer<typeof PlanSchema>;

export const RouteSchema = z.strictObject({
  name: slug,
  /** Absolute path prefix, segment-aware: /v1/chat matches /v1/chat and /v1/chat/x, not /v1/chatty. */
  path_prefix: pathPrefix,
  /** Absent: every method. */
  methods: z.array(method).min(1).optional(),
  scopes: z.array(scopeName).default([]),
  roles: z.array(scopeName).default([]),
  /** Points one request costs in every bucket. */
  cost: z.number().int().min(1).max(1_000_000).default(1),
  /** No credential needed (limits then apply per client IP). */
  public: z.boolean().default(false),
});
export type RouteSpec = z.infer<typeof RouteSchema>;

export const CREDENTIAL_TYPES = ['api_key', 'jwt'] as const;
export type CredentialType = (typeof CREDENTIAL_TYPES)[number];

export const ServiceSchema = z
  .strictObject({
    name: slug,
    description: z.string().max(1000).optional(),
    upstream_urls: z.array(httpUrl).min(1).max(64),
    match: z
      .strictObject({ host: host.optional(), path_prefix: pathPrefix.optional() })
      .refine((m) => m.host !== undefined || m.path_prefix !== undefined, 'needs a host, a path_prefix or both'),
    credentials: z.array(z.enum(CREDENTIAL_TYPES)).min(1).default(['api_key', 'jwt']),
    /** Name of a query parameter that may carry an API key (3scale's `user_key`); absent: never from the query. */
    query_key: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
    /** Plan for principals that carry none of their own. */
    plan: slug.optional(),
    scopes: z.array(scopeName).default([]),
    roles: z.array(scopeName).default([]),
    /** When the rate-limit store is unreachable: open = per-replica insurance limits, closed = 503. */
    fail_mode: z.enum(['open', 'closed']).default('open'),
    /** shadow: decide, log and count, but always allow. */
    mode: z.enum(['enforce', 'shadow']).default('enforce'),
    /** Pass the client's credential on to the upstream (default: strip it). */
    forward_credentials: z.boolean().default(false),
    routes: z.array(RouteSchema).max(1000).default([]),
  });
export type ServiceSpec = z.infer<typeof ServiceSchema>;

export const IssuerSchema = z.strictObject({
  issuer: httpUrl,
  /** Absent: discovered from `${issuer}/.well-known/openid-configuration`. */
  jwks_uri: httpUrl.optional(),
  /** Other `iss` values the same realm signs with (internal vs public Keycloak hostname). */
  aliases: z.array(httpUrl).default([]),
  /** Accepted `aud` values; empty with empty authorized_parties: any audience of this issuer. */
  audiences: z.array(z.string().min(1)).default([]),
  /** Accepted `azp` values (Keycloak puts the requesting client here, not in `aud`). */
  authorized_parties: z.array(z.string().min(1)).default([]),
  algorithms: z
    .array(z.enum(['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']))
    .min(1)
    .default(['RS256']),
  clock_tolerance_seconds: z.number().int().min(0).max(300).default(5),
  /** auto: an unknown subject is its own consumer; required: it must be linked to a consumer first. */
  consumer_mapping: z.enum(['auto', 'required']).default('auto'),
  claims: z
    .strictObject({
      subject: z.string().default('sub'),
      name: z.string().default('preferred_username'),
      scopes: z.string().default('scope'),
      /** Clients whose `resource_access.<client>.roles` count as roles. */
      role_clients: z.array(z.string()).default([]),
    })
    .default({ subject: 'sub', name: 'preferred_username', scopes: 'scope', role_clients: [] }),
});
export type IssuerSpec = z.infer<typeof IssuerSchema>;

export const ConsumerSchema = z.strictObject({
  id: z.string().min(1).max(128),
  name: z.string().min(1).max(200),
  plan: slug.optional(),
  /** OIDC identities that resolve to this consumer, so a user's JWTs and API keys share buckets. */
  subjects: z.array(z.strictObject({ issuer: httpUrl, sub: z.string().min(1).max(255) })).default([]),
  disabled: z.boolean().default(false),
});
export type ConsumerSpec = z.infer<typeof ConsumerSchema>;

/** HMAC-SHA256(pepper, key), base64url without padding. */
export const keyHash = z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'must be a base64url HMAC-SHA256 digest');

export const KeySchema = z.strictObject({
  id: z.string().min(1).max(128),
  consumer_id: z.string().min(1).max(128),
  /** Display prefix (e.g. "pc_4Fz9"); never enough to use the key. */
  prefix: z.string().max(64).optional(),
  /**
   * Secrets that unlock this key: normally one; after a rotation the superseded one stays until `not_after`.
   */
  secrets: z.array(z.strictObject({ hash: keyHash, not_after: isoDate.optional() })).min(1).max(8),
  /** Service names this key may call; empty: every service. */
  services: z.array(slug).default([]),
  scopes: z.array(scopeName).default([]),
  plan: slug.optional(),
  /** Extra per-key windows, counted in a bucket of this key alone. */
  limits: z.array(LimitSchema).max(16).default([]),
  expires_at: isoDate.optional(),
  revoked: z.boolean().default(false),
});
export type KeySpec = z.infer<typeof KeySchema>;

export const StateSchema = z.strictObject({
  version: z.literal(1).default(1),
  /** Monotonic revision from the control plane; 0 for hand-written files. */
  revision: z.number().int().min(0).default(0),
  plans: z.array(PlanSchema).default([]),
  issuers: z.array(IssuerSchema).default([]),
  services: z.array(ServiceSchema).default([]),
  consumers: z.array(ConsumerSchema).default([]),
  keys: z.array(KeySchema).default([]),
});
export type StateSpec = z.infer<typeof StateSchema>;
export type StateInput = z.input<typeof StateSchema>;

/**
 * The small, declarative part of a state: plans, issuers and services. The sync protocol carries it as one
 * JSON document and a replica recompiles it whole on any change; consumers and keys, the high-volume part,
 * travel and are patched one by one.
 */
export const CatalogSchema = StateSchema.pick({ plans: true, issuers: true, services: true });
export type CatalogSpec = z.infer<typeof CatalogSchema>;
export type CatalogInput = z.input<typeof CatalogSchema>;
