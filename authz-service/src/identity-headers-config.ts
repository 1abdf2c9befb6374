/**
 * PORTCULLIS_IDENTITY_HEADERS: a JSON object renaming some identity headers, e.g. {"subject":"X-User-Id"}.
 * Read by the authz-service (the names it sets) and by the control plane (the names its rendered gateway
 * configurations copy and strip), with this one parser, so both always agree on what a value means.
 */
import { z } from 'zod';
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from './core/identity-headers.js';

export const IDENTITY_HEADERS_ENV = 'PORTCULLIS_IDENTITY_HEADERS';

const HEADER_TOKEN = /^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,100}$/;
/** Headers an identity header must never be named after: credentials and hop-by-hop headers. */
const RESERVED_HEADERS = new Set(['authorization', 'x-api-key', 'cookie', 'host', 'connection', 'content-length', 'transfer-encoding', 'te', 'upgrade', 'proxy-authorization']);

const identityHeaderName = z
  .string()
  .regex(HEADER_TOKEN, 'must be a valid HTTP header name')
  .refine((h) => !RESERVED_HEADERS.has(h.toLowerCase()), 'must not be a credential or hop-by-hop header');

const IdentityHeadersOverride = z.strictObject({
  subject: identityHeaderName.optional(),
  consumer: identityHeaderName.optional(),
  keyId: identityHeaderName.optional(),
  scopes: identityHeaderName.optional(),
  plan: identityHeaderName.optional(),
  authMethod: identityHeaderName.optional(),
  name: identityHeaderName.optional(),
  decisionId: identityHeaderName.optional(),
});

export type IdentityHeadersResult = { readonly ok: true; readonly names: IdentityHeaderNames } | { readonly ok: false; readonly errors: readonly string[] };

/** The defaults with the overrides in `raw` applied; unset or blank means the defaults. */
export function parseIdentityHeaders(raw: string | undefined): IdentityHeadersResult {
  if (raw === undefined || raw.trim() === '') return { ok: true, names: DEFAULT_IDENTITY_HEADERS };
  let json: unknown;
  try {
    json = JSON.parse(raw);
  } catch {
    return { ok: false, errors: [`${IDENTITY_HEADERS_ENV}: must be a JSON object such as {"subject":"X-User-Id"}`] };
  }
  const parsed = IdentityHeadersOverride.safeParse(json);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((issue) => `${IDENTITY_HEADERS_ENV}${issue.path.length ? '.' + issue.path.join('.') : ''}: ${issue.message}`) };
  }
  const merged = { ...DEFAULT_IDENTITY_HEADERS } as Record<string, string>;
  for (const [k, v] of Object.entries(parsed.data)) if (v !== undefined) merged[k] = v;
  const errors: string[] = [];
  const seen = new Map<string, string>();
  for (const [k, v] of Object.entries(merged)) {
    const other = seen.get(v.toLowerCase());
    if (other !== undefined) errors.push(`${IDENTITY_HEADERS_ENV}: "${k}" and "${other}" both use the header ${v}`);
    seen.set(v.toLowerCase(), k);
  }
  if (errors.length > 0) return { ok: false, errors };
  return { ok: true, names: Object.freeze(merged as unknown as IdentityHeaderNames) };
}
