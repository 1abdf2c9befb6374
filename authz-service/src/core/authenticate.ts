/**
 * Step 2 of the pipeline: try the credential resolvers in order; the first responsible one decides.
 */
import type { CredentialResolver, ResolveContext, ResolveOutcome } from '../credentials/resolver.js';
import type { NormalizedRequest } from './request.js';

export type AuthenticationOutcome =
  | Extract<ResolveOutcome, { kind: 'resolved' | 'rejected' | 'unavailable' }>
  | { readonly kind: 'missing' }
  /** A credential of a type this service does not accept (a JWT sent to a keys-only service). */
  | { readonly kind: 'not_accepted'; readonly type: string };

const MISSING: AuthenticationOutcome = Object.freeze({ kind: 'missing' });

export async function authenticate(
  resolvers: readonly CredentialResolver[],
  request: NormalizedRequest,
  context: ResolveContext,
): Promise<AuthenticationOutcome> {
  const accepted = context.service.credentials;
  for (const resolver of resolvers) {
    if (!accepted.has(resolver.type)) continue;
    const outcome = await resolver.resolve(request, context);
    if (outcome.kind !== 'not_responsible') return outcome;
  }
  for (const resolver of resolvers) {
    if (!accepted.has(resolver.type) && resolver.present(request, context.service)) return { kind: 'not_accepted', type: resolver.type };
  }
  return MISSING;
}
