import type { Decision } from './decision.js';
import type { NormalizedRequest } from './request.js';

/** The transport-free decision core. Adapters depend on this interface only. */
export interface DecisionEngine {
  decide(request: NormalizedRequest): Promise<Decision>;
}
