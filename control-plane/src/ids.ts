/**
 * Resource ids: `<kind>_<10 chars time><16 chars random>` in lower-case Crockford base32. Ids sort by
 * creation time, so a list ordered by id is ordered by age and a cursor is simply the last id seen.
 * The underscore keeps ids disjoint from slugs, so `{service}` in a path can be a name or an id.
 */
import { randomBytes } from 'node:crypto';

const CROCKFORD = '0123456789abcdefghjkmnpqrstvwxyz';

export const ID_PREFIXES = { service: 'svc', plan: 'pln', consumer: 'con', issuer: 'iss', key: 'key' } as const;
export type IdKind = keyof typeof ID_PREFIXES;

function encodeTime(ms: number): string {
  let out = '';
  let v = ms;
  for (let i = 0; i < 10; i++) {
    out = CROCKFORD[v % 32] + out;
    v = Math.floor(v / 32);
  }
  return out;
}

function encodeRandom(length: number): string {
  let out = '';
  for (const byte of randomBytes(length)) out += CROCKFORD[byte & 31];
  return out;
}

export function newId(kind: IdKind, nowMs: number = Date.now()): string {
  return `${ID_PREFIXES[kind]}_${encodeTime(nowMs)}${encodeRandom(16)}`;
}

/** Does this path value look like one of our ids rather than a name? */
export function isIdOf(kind: IdKind, value: string): boolean {
  return value.startsWith(`${ID_PREFIXES[kind]}_`);
}
