/**
 * Step 4's input: which buckets a request draws from. Plan windows are shared by all of a consumer's keys
 * (or kept per key when the plan says so) and scoped to the service, as 3scale scopes application plans;
 * a key's own extra windows are counted for that key alone.
 */
import type { BucketRequest } from '../limits/limiter.js';
import type { CompiledLimit, CompiledPlan } from '../state/compile.js';
import type { Principal } from './decision.js';

function owner(principal: Principal, plan: CompiledPlan | undefined): string {
  if (principal.keyId !== undefined && plan?.bucket === 'key') return `k:${principal.keyId}`;
  return `c:${principal.consumerId}`;
}

function bucket(key: string, limit: CompiledLimit, policy?: string): BucketRequest {
  return policy === undefined ? { key, limit, windowSeconds: limit.windowSeconds } : { key, limit, windowSeconds: limit.windowSeconds, policy };
}

export function bucketsFor(principal: Principal, service: string, plan: CompiledPlan | undefined): BucketRequest[] {
  const buckets: BucketRequest[] = [];
  if (plan !== undefined && plan.limits.length > 0) {
    const prefix = `${owner(principal, plan)}|${service}|`;
    for (const limit of plan.limits) buckets.push(bucket(prefix + limit.window, limit));
  }
  if (principal.keyLimits !== undefined && principal.keyId !== undefined) {
    const prefix = `k:${principal.keyId}|${service}|key:`;
    // a key's own window may share its length with a plan window; its policy name keeps the headers apart
    for (const limit of principal.keyLimits) buckets.push(bucket(prefix + limit.window, limit, `key-${limit.window}`));
  }
  return buckets;
}
