/**
 * 3scale provisioning configuration, read once at startup from YAML or JSON (inline or from a file) into a
 * frozen object, every problem reported at once.
 *
 *   PORTCULLIS_THREESCALE_CONFIG_FILE   path to the document below
 *   PORTCULLIS_THREESCALE_CONFIG        the document itself (set one of the two)
 *   PORTCULLIS_THREESCALE_ACCESS_TOKEN  optional: sealed into the secret store under `access_token_secret`
 *                                       at startup (then it can be removed from the environment)
 *
 *   admin_url: https://acme-admin.3scale.example.com   # where requests go
 *   tenant_host: acme-admin.3scale.example.com         # Host header (the tenant); default: admin_url's host
 *   access_token_secret: threescale/access-token       # secret-store name of the Admin API access token
 *   timeout_ms: 10000
 *   reconcile_interval_seconds: 900                    # 0 (default): no background reconciliation
 *   signup_email_domain: users.example.com             # for consumers whose name is not an email address
 *   plans:                                             # 3scale application plan (system_name or id) → Portcullis
 *     basic: { plan: free }
 *     pro: { plan: pro, limits: [{ window: 1m, requests: 600 }] }   # limits when 3scale's plan has none
 *   services:                                          # Portcullis service name → 3scale service
 *     mlaas:
 *       service_id: 2
 *       application_plan: basic                        # for new applications; default: the service's default plan
 *       plans: { … }                                   # per-service overrides of `plans`
 *       admin_url / tenant_host / access_token_secret  # per-service overrides (another tenant)
 *
 * Only the services listed here are provisioned through 3scale; every other service keeps built-in keys.
 */
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { Secret } from '../../../../authz-service/src/core/secret.js';
import { LimitSchema, slug, type LimitSpec } from '../../../../authz-service/src/state/schema.js';

export const DEFAULT_ACCESS_TOKEN_SECRET = 'threescale/access-token';
export const DEFAULT_TIMEOUT_MS = 10_000;
export const DEFAULT_SIGNUP_EMAIL_DOMAIN = 'users.portcullis.invalid';

export interface ThreescaleConnection {
  readonly adminUrl: string;
  /** The tenant: the Host header every request carries, and the key under which ids are stored. */
  readonly tenantHost: string;
  readonly accessTokenSecret: string;
  readonly timeoutMs: number;
}

export interface PlanMapping {
  /** Portcullis plan name. */
  readonly plan?: string;
  /** Used when the 3scale plan defines no limits on `hits`. */
  readonly limits?: readonly LimitSpec[];
}

export interface ThreescaleServiceConfig {
  /** Portcullis service name. */
  readonly service: string;
  readonly serviceId: string;
  /** Application plan for new applications (id or system_name); absent: the service's default plan. */
  readonly applicationPlan?: string;
  /** By 3scale plan id or system_name. */
  readonly plans: ReadonlyMap<string, PlanMapping>;
  readonly connection: ThreescaleConnection;
}

export interface ThreescaleConfig {
  readonly services: ReadonlyMap<string, ThreescaleServiceConfig>;
  /** 0: no background reconciliation. */
  readonly reconcileIntervalMs: number;
  readonly signupEmailDomain: string;
  /** To seal into the secret store at startup under the global access_token_secret. */
  readonly seedAccessToken?: Secret;
  /** The secret name the seed goes to. */
  readonly seedSecretName: string;
}

const SECRET_NAME = /^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,199}$/;
const HOST = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$/;

const threescaleId = z.union([z.number().int().positive(), z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a 3scale id (a positive integer)')]).transform(String);
const planRef = z.union([z.number().int().positive(), z.string().min(1).max(200)]).transform(String);
const adminUrl = z.url({ protocol: /^https?$/ }).refine((u) => !new URL(u).search && !new URL(u).hash, 'must not carry a query or fragment');
const tenantHost = z
  .string()
  .transform((h) => h.toLowerCase())
  .pipe(z.string().regex(HOST, 'must be a host name'));
const secretName = z.string().regex(SECRET_NAME, 'must be a secret-store name (A-Z a-z 0-9 . _ : / @ -)');

const PlanMappingSchema = z.strictObject({
  plan: slug.optional(),
  limits: z.array(LimitSchema).max(16).optional(),
});

const connectionFields = {
  admin_url: adminUrl.optional(),
  tenant_host: tenantHost.optional(),
  access_token_secret: secretName.optional(),
  timeout_ms: z.number().int().min(100).max(120_000).optional(),
};

const ServiceMappingSchema = z.strictObject({
  service_id: threescaleId,
  application_plan: planRef.optional(),
  plans: z.record(z.string().min(1).max(200), PlanMappingSchema).default({}),
  ...connectionFields,
});

const DocumentSchema = z.strictObject({
  ...connectionFields,
  reconcile_interval_seconds: z.number().int().min(0).max(7 * 86_400).default(0),
  signup_email_domain: tenantHost.default(DEFAULT_SIGNUP_EMAIL_DOMAIN),
  plans: z.record(z.string().min(1).max(200), PlanMappingSchema).default({}),
  services: z.record(slug, ServiceMappingSchema).refine((s) => Object.keys(s).length > 0, 'must map at least one service'),
});
type Document = z.output<typeof DocumentSchema>;

type Env = Readonly<Record<string, string | undefined>>;

function setting(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

export const THREESCALE_SETTINGS = ['PORTCULLIS_THREESCALE_CONFIG', 'PORTCULLIS_THREESCALE_CONFIG_FILE'] as const;

function resolve(doc: Document, seed: Secret | undefined): { config?: ThreescaleConfig; errors: string[] } {
  const errors: string[] = [];
  const services = new Map<string, ThreescaleServiceConfig>();
  const tenants = new Map<string, string>();
  for (const [name, s] of Object.entries(doc.services)) {
    const url = s.admin_url ?? doc.admin_url;
    if (url === undefined) {
      errors.push(`services.${name}.admin_url: required (here or at the top level)`);
      continue;
    }
    const host = s.tenant_host ?? (s.admin_url !== undefined ? undefined : doc.tenant_host) ?? new URL(url).host.toLowerCase();
    const connection: ThreescaleConnection = Object.freeze({
      adminUrl: url.replace(/\/+$/, ''),
      tenantHost: host,
      accessTokenSecret: s.access_token_secret ?? doc.access_token_secret ?? DEFAULT_ACCESS_TOKEN_SECRET,
      timeoutMs: s.timeout_ms ?? doc.timeout_ms ?? DEFAULT_TIMEOUT_MS,
    });
    // a tenant's ids are stored under its host: one host must always mean one admin URL
    const known = tenants.get(host);
    if (known !== undefined && known !== connection.adminUrl) errors.push(`services.${name}.tenant_host: "${host}" is already reached through ${known}`);
    tenants.set(host, connection.adminUrl);
    const plans = new Map<string, PlanMapping>(Object.entries({ ...doc.plans, ...s.plans }).map(([k, v]) => [k, Object.freeze(v)]));
    services.set(
      name,
      Object.freeze({
        service: name,
        serviceId: s.service_id,
        ...(s.application_plan !== undefined ? { applicationPlan: s.application_plan } : {}),
        plans,
        connection,
      }),
    );
  }
  const ids = new Map<string, string>();
  for (const s of services.values()) {
    const key = `${s.connection.tenantHost}#${s.serviceId}`;
    if (ids.has(key)) errors.push(`services.${s.service}.service_id: 3scale service ${s.serviceId} is already mapped to "${ids.get(key)}"`);
    ids.set(key, s.service);
  }
  if (errors.length > 0) return { errors };
  return {
    errors,
    config: Object.freeze({
      services,
      reconcileIntervalMs: doc.reconcile_interval_seconds * 1000,
      signupEmailDomain: doc.signup_email_domain,
      ...(seed !== undefined ? { seedAccessToken: seed } : {}),
      seedSecretName: doc.access_token_secret ?? DEFAULT_ACCESS_TOKEN_SECRET,
    }),
  };
}

/** Undefined config with no errors: 3scale provisioning is not configured. */
export function parseThreescaleConfig(env: Env = process.env, readFile: (path: string) => string = (p) => readFileSync(p, 'utf8')): { config?: ThreescaleConfig; errors: string[] } {
  const inline = setting(env, 'PORTCULLIS_THREESCALE_CONFIG');
  const file = setting(env, 'PORTCULLIS_THREESCALE_CONFIG_FILE');
  const token = setting(env, 'PORTCULLIS_THREESCALE_ACCESS_TOKEN');
  if (inline === undefined && file === undefined) {
    return { errors: token === undefined ? [] : ['PORTCULLIS_THREESCALE_ACCESS_TOKEN: set, but 3scale provisioning is not configured (PORTCULLIS_THREESCALE_CONFIG_FILE)'] };
  }
  if (inline !== undefined && file !== undefined) return { errors: ['set PORTCULLIS_THREESCALE_CONFIG or PORTCULLIS_THREESCALE_CONFIG_FILE, not both'] };
  const source = inline !== undefined ? 'PORTCULLIS_THREESCALE_CONFIG' : `PORTCULLIS_THREESCALE_CONFIG_FILE (${file})`;
  let text: string;
  try {
    text = inline ?? readFile(file!);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    return { errors: [`${source}: cannot be read${typeof code === 'string' ? ` (${code})` : ''}`] };
  }
  let raw: unknown;
  try {
    raw = parseYaml(text);
  } catch (error) {
    return { errors: [`${source}: not valid YAML or JSON (${error instanceof Error ? error.message.split('\n')[0] : 'parse error'})`] };
  }
  const parsed = DocumentSchema.safeParse(raw);
  if (!parsed.success) {
    return { errors: parsed.error.issues.map((i) => `${source}: ${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`) };
  }
  const resolved = resolve(parsed.data, token === undefined ? undefined : new Secret(token));
  return { ...(resolved.config ? { config: resolved.config } : {}), errors: resolved.errors.map((e) => `${source}: ${e}`) };
}
