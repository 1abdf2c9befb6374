/** Who is calling the control plane, after authentication. */
import type { Principal } from '../../../authz-service/src/core/decision.js';

/** API-key scope that makes a key an administrator's. */
export const ADMIN_SCOPE = 'portcullis:admin';
/** API-key scope that lets a data plane report usage without being an administrator. */
export const USAGE_REPORT_SCOPE = 'portcullis:usage:report';

/** API-key scope that lets a gateway fetch its rendered configuration (GET /v1/gateway/*), nothing more. */
export const GATEWAY_SCOPE = 'portcullis:gateway';

/** 'various' never authenticates: it names the many callers behind one coalesced audit row (see VARIOUS_CALLERS). */
export type ActorKind = 'bootstrap' | 'gateway' | 'api_key' | 'jwt' | 'system' | 'anonymous' | 'various';

export interface Actor {
  readonly kind: ActorKind;
  /** Stable identity for the audit log: `key:<id>`, `jwt:<issuer>#<sub>`, `bootstrap`, `system`. */
  readonly id: string;
  /** The consumer behind the credential; absent for the bootstrap credential and the system. */
  readonly consumerId?: string;
  readonly name?: string;
  readonly admin: boolean;
  /** Scopes and roles the credential carries; what a self-service key may be given, at most. */
  readonly grants: ReadonlySet<string>;
  readonly principal?: Principal;
}

/** Request facts recorded with every audit row. */
export interface Caller {
  readonly actor: Actor;
  readonly requestId: string;
  readonly ip?: string;
  readonly userAgent?: string;
}

export const SYSTEM_ACTOR: Actor = Object.freeze({ kind: 'system', id: 'system', admin: true, grants: new Set<string>() });
export const ANONYMOUS_ACTOR: Actor = Object.freeze({ kind: 'anonymous', id: 'anonymous', admin: false, grants: new Set<string>() });
export const BOOTSTRAP_ACTOR: Actor = Object.freeze({ kind: 'bootstrap', id: 'bootstrap', admin: true, grants: new Set([ADMIN_SCOPE]) });
/**
 * The actor of an audit row that sums up refused attempts from more callers than the refusal coalescer
 * tracks apart: naming any one of them would attribute the others' attempts to it.
 */
export const VARIOUS_CALLERS: Actor = Object.freeze({ kind: 'various', id: 'various', admin: false, grants: new Set<string>() });
/** Whoever presents PORTCULLIS_GATEWAY_TOKEN: a gateway polling its configuration. */
export const GATEWAY_ACTOR: Actor = Object.freeze({ kind: 'gateway', id: 'gateway', admin: false, grants: new Set([GATEWAY_SCOPE]) });

export function actorFromPrincipal(principal: Principal, adminRole: string): Actor {
  const grants = new Set([...principal.scopes, ...principal.roles]);
  const isKey = principal.authMethod === 'api_key';
  const admin = isKey ? principal.scopes.has(ADMIN_SCOPE) : principal.roles.has(adminRole) || principal.scopes.has(adminRole);
  return Object.freeze({
    kind: isKey ? 'api_key' : 'jwt',
    id: isKey ? `key:${principal.keyId ?? principal.subject}` : `jwt:${principal.issuer ?? ''}#${principal.subject}`,
    consumerId: principal.consumerId,
    ...(principal.name !== undefined ? { name: principal.name } : {}),
    admin,
    grants,
    principal,
  });
}
