/**
 * Counts decisions per key, consumer, service and UTC day, in memory, on the hot path. After a principal's
 * first decision of the day for a service, counting is two Map lookups and an increment: nothing is
 * allocated per request. `drain()` hands over what was counted (aggregated, for a usage batch) and starts over.
 *
 * Only identified callers are counted: an anonymous request on a public route has no consumer to bill, and a
 * request refused before it was identified (unknown or revoked key) has no principal at all.
 */
import type { Decision, Principal } from '../core/decision.js';
import type { WireUsageEntry } from './messages.js';

interface Cell {
  allowed: number;
  denied: number;
  lastMs: number;
}

type DayCounts = Map<Principal, Map<string, Cell>>;

const DAY_MS = 86_400_000;

export class UsageCounter {
  readonly #clock: () => number;
  #day = -1;
  #counts: DayCounts = new Map();
  /** Days that ended before the last drain. */
  #sealed: { day: number; counts: DayCounts }[] = [];

  constructor(clock: () => number = Date.now) {
    this.#clock = clock;
  }

  record(decision: Decision): void {
    const principal = decision.principal;
    const service = decision.route?.service;
    if (principal === undefined || service === undefined || principal.authMethod === 'anonymous') return;
    const now = this.#clock();
    const day = Math.floor(now / DAY_MS);
    if (day !== this.#day) this.#turnDay(day);
    let byService = this.#counts.get(principal);
    if (byService === undefined) this.#counts.set(principal, (byService = new Map()));
    let cell = byService.get(service);
    if (cell === undefined) byService.set(service, (cell = { allowed: 0, denied: 0, lastMs: 0 }));
    if (decision.kind === 'allow') cell.allowed++;
    else cell.denied++;
    cell.lastMs = now;
  }

  #turnDay(day: number): void {
    if (this.#counts.size > 0) this.#sealed.push({ day: this.#day, counts: this.#counts });
    this.#day = day;
    this.#counts = new Map();
  }

  /** Everything counted since the last drain, one entry per key, consumer, service and day. */
  drain(): WireUsageEntry[] {
    const days = [...this.#sealed, { day: this.#day, counts: this.#counts }];
    this.#sealed = [];
    this.#counts = new Map();
    const merged = new Map<string, { key_id: string; consumer_id: string; service: string; day: string; allowed: number; denied: number; last_used_ms: number }>();
    for (const { day, counts } of days) {
      if (counts.size === 0) continue;
      const date = new Date(day * DAY_MS).toISOString().slice(0, 10);
      for (const [principal, byService] of counts) {
        for (const [service, cell] of byService) {
          // principals are per credential and state; several may stand for the same key
          const keyId = principal.keyId ?? '';
          const id = `${keyId}\u0000${principal.consumerId}\u0000${service}\u0000${date}`;
          const entry = merged.get(id);
          if (entry) {
            entry.allowed += cell.allowed;
            entry.denied += cell.denied;
            entry.last_used_ms = Math.max(entry.last_used_ms, cell.lastMs);
          } else {
            merged.set(id, { key_id: keyId, consumer_id: principal.consumerId, service, day: date, allowed: cell.allowed, denied: cell.denied, last_used_ms: cell.lastMs });
          }
        }
      }
    }
    return [...merged.values()];
  }
}
