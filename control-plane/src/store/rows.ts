/**
 * Small conversions between what the two drivers return and what the rest of the code uses. `pg` hands
 * back int8 as strings and timestamps as Dates; PGlite hands back int8 as numbers. Nothing above the store
 * sees either.
 */
import type { Knex } from 'knex';

/** A connection or an open transaction; store functions accept both. */
export type Db = Knex | Knex.Transaction;

export function iso(value: Date | string): string {
  return (value instanceof Date ? value : new Date(value)).toISOString();
}

export function isoOrUndefined(value: Date | string | null | undefined): string | undefined {
  return value === null || value === undefined ? undefined : iso(value);
}

export function int(value: number | string | bigint): number {
  return Number(value);
}

/** jsonb parameters must be JSON text: `pg` would otherwise send a JS array as a Postgres array. */
export function json(value: unknown): string {
  return JSON.stringify(value);
}

/** Postgres error classes the API answers with 409 rather than 500. */
export function isUniqueViolation(error: unknown): boolean {
  return pgCode(error) === '23505';
}

/** 23503 foreign_key_violation; 23001 restrict_violation (what newer servers raise for ON DELETE RESTRICT). */
export function isForeignKeyViolation(error: unknown): boolean {
  const code = pgCode(error);
  return code === '23503' || code === '23001';
}

function pgCode(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error && typeof error.code === 'string' ? error.code : undefined;
}

/** Drop undefined so optional fields stay absent instead of becoming `"x": undefined`. */
export function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined && v !== null)) as T;
}
