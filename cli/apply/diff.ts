/**
 * What `apply` would change: per declared object, create (it does not exist), update (a declared field
 * differs from the server's) or unchanged. Only declared fields count: apply never deletes objects and
 * never resets fields the file leaves out, so a second run of the same file finds nothing to do.
 */
import { type Declared, isRecord, type KindSpec } from './document.js';

export interface FieldChange {
  readonly field: string;
  readonly from: unknown;
  readonly to: unknown;
}

export interface Subject {
  readonly issuer: string;
  readonly sub: string;
}

export type Change =
  | { readonly action: 'create'; readonly spec: KindSpec; readonly key: string; readonly body: Readonly<Record<string, unknown>> }
  | {
      readonly action: 'update';
      readonly spec: KindSpec;
      readonly key: string;
      /** Merge patch of the changed fields. */
      readonly patch: Readonly<Record<string, unknown>>;
      readonly fields: readonly FieldChange[];
      /** Consumers: OIDC subjects to link (they have their own endpoint, not the patch). */
      readonly addSubjects: readonly Subject[];
    }
  | { readonly action: 'unchanged'; readonly spec: KindSpec; readonly key: string };

export function diff(declared: Declared, current: Readonly<Record<string, unknown>> | undefined): Change {
  const { spec, key, body } = declared;
  if (current === undefined) return { action: 'create', spec, key, body };
  const patch: Record<string, unknown> = {};
  const fields: FieldChange[] = [];
  let addSubjects: Subject[] = [];
  for (const [field, value] of Object.entries(body)) {
    if (field === spec.identity) continue;
    if (spec.kind === 'consumer' && field === 'subjects') {
      addSubjects = missingSubjects(value, current['subjects']);
      if (addSubjects.length > 0) fields.push({ field, from: current['subjects'], to: value });
      continue;
    }
    if (covers(value, current[field])) continue;
    patch[field] = value;
    fields.push({ field, from: current[field], to: value });
  }
  return fields.length === 0 ? { action: 'unchanged', spec, key } : { action: 'update', spec, key, patch, fields, addSubjects };
}

/**
 * Whether the server's value already says what the declaration says. Objects compare on the declared keys
 * only (the server fills in defaults); lists element by element, in order; null means "absent".
 */
export function covers(declared: unknown, current: unknown): boolean {
  if (declared === null || declared === undefined) return current === null || current === undefined;
  if (Array.isArray(declared)) return Array.isArray(current) && current.length === declared.length && declared.every((d, i) => covers(d, current[i]));
  if (isRecord(declared)) return isRecord(current) && Object.entries(declared).every(([k, v]) => covers(v, current[k]));
  return declared === current;
}

function missingSubjects(declared: unknown, current: unknown): Subject[] {
  const have = new Set((Array.isArray(current) ? current : []).filter(isRecord).map((s) => `${String(s['issuer'])}\n${String(s['sub'])}`));
  return (Array.isArray(declared) ? declared : [])
    .filter(isRecord)
    .map((s) => ({ issuer: String(s['issuer']), sub: String(s['sub']) }))
    .filter((s) => !have.has(`${s.issuer}\n${s.sub}`));
}
