/**
 * Links a token identity to a consumer of the current state. Done per state (memoised by the resolver), not
 * per token verification, so that linking, unlinking or disabling a consumer applies to cached tokens too.
 */
import { createHash } from 'node:crypto';
import type { Principal } from '../../core/decision.js';
import type { CompiledState } from '../../state/compile.js';
import type { ConsumerSpec, IssuerSpec } from '../../state/schema.js';
import type { TokenIdentity } from './claims.js';

export const AUTO_CONSUMER_PREFIX = 'oidc_';

/**
 * The consumer id an unlinked OIDC subject gets under `consumer_mapping: auto`: deterministic, so every
 * replica and the control plane (which auto-creates the consumer record) arrive at the same id.
 */
export function autoConsumerId(issuer: string, subject: string): string {
  return AUTO_CONSUMER_PREFIX + createHash('sha256').update(`${issuer}\u0000${subject}`).digest('base64url').slice(0, 22);
}

export type ConsumerLink =
  | { readonly kind: 'linked'; readonly principal: Principal }
  | { readonly kind: 'disabled' }
  | { readonly kind: 'unknown' };

function principalOf(identity: TokenIdentity, consumerId: string, consumer: ConsumerSpec | undefined): Principal {
  const plan = consumer?.plan;
  return Object.freeze({
    authMethod: 'jwt',
    subject: identity.subject,
    consumerId,
    ...(identity.name !== undefined ? { name: identity.name } : {}),
    issuer: identity.issuer,
    scopes: identity.scopes,
    roles: identity.roles,
    ...(plan !== undefined ? { plan } : {}),
    validUntilMs: identity.validUntilMs,
  });
}

export function linkConsumer(identity: TokenIdentity, spec: IssuerSpec, state: CompiledState): ConsumerLink {
  const linked = state.consumerBySubject(identity.issuer, identity.subject);
  if (linked !== undefined) {
    return linked.disabled ? { kind: 'disabled' } : { kind: 'linked', principal: principalOf(identity, linked.id, linked) };
  }
  if (spec.consumer_mapping === 'required') return { kind: 'unknown' };
  const id = autoConsumerId(identity.issuer, identity.subject);
  // the control plane may already have created the auto consumer (and an admin may have disabled it)
  const created = state.consumers.get(id);
  if (created?.disabled) return { kind: 'disabled' };
  return { kind: 'linked', principal: principalOf(identity, id, created) };
}
