import type { Decision } from './decision.js';
import type { MaybePromise } from './maybe-promise.js';
import type { NormalizedRequest } from './request.js';

/**
 * The transport-free decision core. Adapters depend on this interface only. A decision that needs no I/O
 * comes back as a value, one that waits (JWKS, Redis) as a promise; adapters handle both, and a promise never
 * rejects with a denial (denials are values either way).
 */
export interface DecisionEngine {
  decide(request: NormalizedRequest): MaybePromise<Decision>;
}
