/** Audit rows for requests that did not succeed, written outside the (rolled back) operation. */
import type { AuditOutcome } from '../api/audit.js';
import type { Caller } from '../auth/actor.js';
import { insertAudit } from '../store/audit.js';
import type { Db } from '../store/rows.js';

export interface FailedAttempt {
  readonly action: string;
  readonly status: number;
  readonly code: string;
  readonly resourceType?: string;
  readonly resourceId?: string;
  readonly at: Date;
}

export function outcomeFor(status: number): AuditOutcome {
  return status === 401 || status === 403 ? 'denied' : 'failed';
}

/** `change` carries what the row summarises, e.g. how many repeats a coalesced row stands for. */
export async function recordFailure(db: Db, caller: Caller, attempt: FailedAttempt, change?: unknown): Promise<void> {
  const { actor, requestId, ip, userAgent } = caller;
  await insertAudit(db, {
    at: attempt.at,
    actorKind: actor.kind,
    actorId: actor.id,
    ...(actor.consumerId !== undefined ? { actorConsumerId: actor.consumerId } : {}),
    action: attempt.action,
    ...(attempt.resourceType !== undefined ? { resourceType: attempt.resourceType } : {}),
    ...(attempt.resourceId !== undefined ? { resourceId: attempt.resourceId } : {}),
    outcome: outcomeFor(attempt.status),
    status: attempt.status,
    code: attempt.code,
    requestId,
    ...(ip !== undefined ? { ip } : {}),
    ...(userAgent !== undefined ? { userAgent } : {}),
    ...(change !== undefined ? { change } : {}),
  });
}
