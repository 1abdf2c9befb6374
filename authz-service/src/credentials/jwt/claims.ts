/**
 * What a verified token's claims mean to Portcullis: whether it is an access token, whether it was issued
 * for us (aud or azp), and the identity it carries. Pure functions over already-verified claims.
 */
import type { JWTHeaderParameters, JWTPayload } from 'jose';
import type { IssuerSpec } from '../../state/schema.js';

/** The identity a verified token carries; cached per token, independent of consumers and of the state object. */
export interface TokenIdentity {
  /** Canonical issuer (the spec's `issuer`, never the alias the token named). */
  readonly issuer: string;
  readonly subject: string;
  readonly name?: string;
  readonly scopes: ReadonlySet<string>;
  readonly roles: ReadonlySet<string>;
  /** Token `exp` in epoch ms. */
  readonly validUntilMs: number;
}

/** RFC 9068 access tokens say `at+jwt`; most issuers (Keycloak included) say `JWT` or nothing. */
const ACCEPTED_HEADER_TYPES: ReadonlySet<string> = new Set(['jwt', 'at+jwt']);

/** Header `typ` is absent, `JWT` or `at+jwt` (media types compare case-insensitively, `application/` optional). */
export function headerTypeAccepted(header: Pick<JWTHeaderParameters, 'typ'>): boolean {
  const typ: unknown = header.typ;
  if (typ === undefined) return true;
  if (typeof typ !== 'string') return false;
  const lower = typ.toLowerCase();
  return ACCEPTED_HEADER_TYPES.has(lower.startsWith('application/') ? lower.slice(12) : lower);
}

/** Keycloak's payload `typ` for tokens that are not access tokens; `Bearer` (or no `typ`) is an access token. */
const NON_ACCESS_TOKEN_TYPES: ReadonlySet<string> = new Set(['id', 'refresh', 'offline', 'logout']);

export function isNonAccessToken(payload: JWTPayload): boolean {
  const typ = payload['typ'];
  return typeof typ === 'string' && NON_ACCESS_TOKEN_TYPES.has(typ.toLowerCase());
}

/**
 * Was the token issued for this API? With neither audiences nor authorized parties configured, any token of
 * the issuer is. Otherwise `aud` must name a configured audience or `azp` a configured party: Keycloak puts
 * the requesting client in `azp` and leaves `aud` to mappers, so either one is enough.
 */
export function audienceAccepted(payload: JWTPayload, spec: IssuerSpec): boolean {
  const { audiences, authorized_parties: parties } = spec;
  if (audiences.length === 0 && parties.length === 0) return true;
  if (audiences.length > 0) {
    const aud = payload.aud;
    if (typeof aud === 'string' ? audiences.includes(aud) : Array.isArray(aud) && aud.some((a) => typeof a === 'string' && audiences.includes(a))) {
      return true;
    }
  }
  const azp = payload['azp'];
  return parties.length > 0 && typeof azp === 'string' && parties.includes(azp);
}

function ownProperty(object: unknown, key: string): unknown {
  return typeof object === 'object' && object !== null && !Array.isArray(object) && Object.hasOwn(object, key)
    ? (object as Record<string, unknown>)[key]
    : undefined;
}

function stringsOf(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string' && v.length > 0) : [];
}

/** Space-separated string (OAuth `scope`) or an array of strings (`scp` of some issuers). */
export function scopesOf(value: unknown): Set<string> {
  if (typeof value === 'string') return new Set(value.split(' ').filter((s) => s.length > 0));
  return new Set(stringsOf(value));
}

/**
 * Keycloak roles: realm roles and the roles of the configured `role_clients` as plain names, and every
 * client's roles also qualified as `<client>:<role>` so a route can demand a role of one client exactly.
 */
export function rolesOf(payload: JWTPayload, roleClients: readonly string[]): Set<string> {
  const roles = new Set(stringsOf(ownProperty(payload['realm_access'], 'roles')));
  const resourceAccess = payload['resource_access'];
  if (typeof resourceAccess === 'object' && resourceAccess !== null && !Array.isArray(resourceAccess)) {
    for (const [client, access] of Object.entries(resourceAccess)) {
      for (const role of stringsOf(ownProperty(access, 'roles'))) roles.add(`${client}:${role}`);
    }
  }
  for (const client of roleClients) {
    for (const role of stringsOf(ownProperty(ownProperty(resourceAccess, client), 'roles'))) roles.add(role);
  }
  return roles;
}

/** The identity of a verified token, or undefined when the configured subject claim is missing or empty. */
export function identityOf(payload: JWTPayload, spec: IssuerSpec): TokenIdentity | undefined {
  const subject = ownProperty(payload, spec.claims.subject);
  if (typeof subject !== 'string' || subject.length === 0 || typeof payload.exp !== 'number') return undefined;
  const name = ownProperty(payload, spec.claims.name);
  return Object.freeze({
    issuer: spec.issuer,
    subject,
    ...(typeof name === 'string' && name.length > 0 ? { name } : {}),
    scopes: scopesOf(ownProperty(payload, spec.claims.scopes)),
    roles: rolesOf(payload, spec.claims.role_clients),
    validUntilMs: payload.exp * 1000,
  });
}
