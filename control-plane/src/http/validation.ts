/** Request validation: zod issues and hostile strings become field-level validation_failed problems. */
import type { z } from 'zod';
import { ProblemError, type FieldError } from '../problem-error.js';

export type RequestPart = 'body' | 'query' | 'params' | 'header';

const MAX_DEPTH = 32;

function formatPath(part: string, path: readonly PropertyKey[]): string {
  let out = part;
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : `.${String(p)}`;
  return out;
}

export function fieldErrors(error: z.ZodError, part: RequestPart): FieldError[] {
  return error.issues.flatMap((issue): FieldError[] => {
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ path: formatPath(part, [...issue.path, key]), message: 'unknown field' }));
    }
    return [{ path: formatPath(part, issue.path), message: issue.message }];
  });
}

export function parseWith<T extends z.ZodType>(schema: T, value: unknown, part: RequestPart): z.output<T> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const errors = fieldErrors(result.error, part);
  throw new ProblemError('validation_failed', `invalid ${part}: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`.slice(0, 1000), errors);
}

/**
 * Strings Postgres cannot store (NUL) or that are not Unicode (lone surrogates, which JSON allows as
 * `\ud800`) are refused up front, with their path, instead of failing deep inside a query. Also bounds
 * nesting, so a pathological body cannot exhaust the stack.
 */
export function rejectHostileStrings(value: unknown, part: RequestPart): void {
  const bad = findHostile(value, [], 0);
  if (bad) throw new ProblemError('validation_failed', `${formatPath(part, bad.path)}: ${bad.message}`, [{ path: formatPath(part, bad.path), message: bad.message }]);
}

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

function badString(s: string): string | undefined {
  if (s.includes('\u0000')) return 'must not contain NUL characters';
  if (LONE_SURROGATE.test(s)) return 'must be valid Unicode (no lone surrogates)';
  return undefined;
}

function findHostile(value: unknown, path: PropertyKey[], depth: number): { path: PropertyKey[]; message: string } | undefined {
  if (typeof value === 'string') {
    const message = badString(value);
    return message ? { path, message } : undefined;
  }
  if (typeof value !== 'object' || value === null) return undefined;
  if (depth >= MAX_DEPTH) return { path, message: `nested deeper than ${MAX_DEPTH} levels` };
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const found = findHostile(value[i], [...path, i], depth + 1);
      if (found) return found;
    }
    return undefined;
  }
  for (const [key, child] of Object.entries(value)) {
    const keyProblem = badString(key);
    if (keyProblem) return { path: [...path, key.replace(/[\u0000\ud800-\udfff]/g, '?')], message: `field name ${keyProblem}` };
    const found = findHostile(child, [...path, key], depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Only the fields the client sent: a PATCH must not reset absent fields to schema defaults. */
export function presentFieldsOnly<T extends object>(parsed: T, raw: unknown): Partial<T> {
  if (typeof raw !== 'object' || raw === null) return {};
  const sent = new Set(Object.keys(raw));
  return Object.fromEntries(Object.entries(parsed).filter(([k]) => sent.has(k))) as Partial<T>;
}
