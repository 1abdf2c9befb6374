/** Stored responses of creating POSTs, keyed by (caller scope, Idempotency-Key). */
import type { Db } from './rows.js';

export interface StoredResponse {
  readonly fingerprint: string;
  readonly status: number;
  /** Encrypted by the caller; opaque here. */
  readonly response: string;
}

/**
 * Claims (scope, key) inside the caller's transaction. If another transaction holds the same claim,
 * Postgres makes this INSERT wait for it to finish; then it either finds that request's committed
 * response (returned) or, if that transaction rolled back, takes the claim itself (undefined).
 */
export async function claimIdempotencyKey(tx: Db, scope: string, key: string, fingerprint: string, at: Date, expiredBefore: Date): Promise<StoredResponse | undefined> {
  // expired responses go first (all of them: the created_at index makes this cheap), so the table stays small
  await tx('idempotency_keys').where('created_at', '<', expiredBefore).delete();
  const inserted = (await tx('idempotency_keys')
    .insert({ scope, key, fingerprint, status: 0, response: '', created_at: at })
    .onConflict(['scope', 'key'])
    .ignore()
    .returning('key')) as unknown[];
  if (inserted.length === 1) return undefined;
  const row = (await tx('idempotency_keys').where({ scope, key }).first('fingerprint', 'status', 'response')) as StoredResponse | undefined;
  if (!row) throw new Error('idempotency claim vanished');
  return row;
}

export async function completeIdempotencyKey(tx: Db, scope: string, key: string, status: number, response: string): Promise<void> {
  await tx('idempotency_keys').where({ scope, key }).update({ status, response });
}

/** Whether (scope, key) already has a completed, unexpired response; read outside any transaction. */
export async function hasCompletedResponse(db: Db, scope: string, key: string, notBefore: Date): Promise<boolean> {
  const row = await db('idempotency_keys').where({ scope, key }).where('status', '>', 0).where('created_at', '>=', notBefore).first('key');
  return row !== undefined;
}
