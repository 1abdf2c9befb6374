/**
 * Step 2 of the pipeline: try the credential resolvers in order; the first responsible one decides.
 */
import type { CredentialResolver, ResolveContext, ResolveOutcome } from '../credentials/resolver.js';
import { type MaybePromise, isPromise } from './maybe-promise.js';
import type { NormalizedRequest } from './request.js';

export type AuthenticationOutcome =
  | Extract<ResolveOutcome, { kind: 'resolved' | 'rejected' | 'unavailable' }>
  | { readonly kind: 'missing' }
  /** A credential of a type this service does not accept (a JWT sent to a keys-only service). */
  | { readonly kind: 'not_accepted'; readonly type: string };

const MISSING: AuthenticationOutcome = Object.freeze({ kind: 'missing' });

/** Synchronous while every resolver asked answers synchronously (see maybe-promise.ts). */
export function authenticate(
  resolvers: readonly CredentialResolver[],
  request: NormalizedRequest,
  context: ResolveContext,
  from = 0,
): MaybePromise<AuthenticationOutcome> {
  const accepted = context.service.credentials;
  for (let i = from; i < resolvers.length; i++) {
    const resolver = resolvers[i]!;
    if (!accepted.has(resolver.type)) continue;
    const outcome = resolver.resolve(request, context);
    if (isPromise(outcome)) {
      return outcome.then((settled) => (settled.kind !== 'not_responsible' ? settled : authenticate(resolvers, request, context, i + 1)));
    }
    if (outcome.kind !== 'not_responsible') return outcome;
  }
  for (const resolver of resolvers) {
    if (!accepted.has(resolver.type) && resolver.present(request, context.service)) return { kind: 'not_accepted', type: resolver.type };
  }
  return MISSING;
}
