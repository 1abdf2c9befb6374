/**
 * Idempotency-Key for creating POSTs: the first request's response is stored, and a retry with the same
 * key and the same request gets that response again instead of a second resource. The claim, the work
 * and the stored response share one transaction, so a concurrent retry waits for the first to finish.
 * Stored responses are sealed with AES-256-GCM under a key derived from the pepper: a create-key
 * response carries the secret, which must not rest in the database in plaintext.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';
import type { Db } from '../store/rows.js';
import { claimIdempotencyKey, completeIdempotencyKey, hasCompletedResponse } from '../store/idempotency.js';

export const IDEMPOTENCY_TTL_MS = 24 * 3600 * 1000;
export const IDEMPOTENCY_KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export class ResponseVault {
  readonly #key: Buffer;

  constructor(pepper: Buffer) {
    this.#key = Buffer.from(hkdfSync('sha256', pepper, Buffer.alloc(0), 'portcullis idempotency response v1', 32));
  }

  seal(context: string, plaintext: string): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const body = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return `v1.${Buffer.concat([iv, cipher.getAuthTag(), body]).toString('base64url')}`;
  }

  open(context: string, sealed: string): string {
    if (!sealed.startsWith('v1.')) throw new Error('unknown sealed response format');
    const raw = Buffer.from(sealed.slice(3), 'base64url');
    const decipher = createDecipheriv('aes-256-gcm', this.#key, raw.subarray(0, 12));
    decipher.setAAD(Buffer.from(context, 'utf8'));
    decipher.setAuthTag(raw.subarray(12, 28));
    return Buffer.concat([decipher.update(raw.subarray(28)), decipher.final()]).toString('utf8');
  }

  toJSON(): string {
    return '[ResponseVault]';
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return '[ResponseVault]';
  }
}

export interface IdempotentRequest {
  /** Whose key this is: two callers may use the same Idempotency-Key independently. */
  readonly scope: string;
  readonly key: string;
  /** Hash of method, path and body: the same key with a different request is an error, not a replay. */
  readonly fingerprint: string;
}

export type Claim =
  | { readonly kind: 'new' }
  | { readonly kind: 'replay'; readonly status: number; readonly body: unknown }
  | { readonly kind: 'mismatch' };

export function requestFingerprint(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method} ${path}\n`).update(JSON.stringify(body ?? null)).digest('base64url');
}

const context = (r: IdempotentRequest) => `${r.scope}\u0000${r.key}`;

export async function claimRequest(tx: Db, vault: ResponseVault, request: IdempotentRequest, now: Date): Promise<Claim> {
  const stored = await claimIdempotencyKey(tx, request.scope, request.key, request.fingerprint, now, new Date(now.getTime() - IDEMPOTENCY_TTL_MS));
  if (!stored) return { kind: 'new' };
  if (stored.fingerprint !== request.fingerprint) return { kind: 'mismatch' };
  return { kind: 'replay', status: stored.status, body: JSON.parse(vault.open(context(request), stored.response)) };
}

export async function completeRequest(tx: Db, vault: ResponseVault, request: IdempotentRequest, status: number, body: unknown): Promise<void> {
  await completeIdempotencyKey(tx, request.scope, request.key, status, vault.seal(context(request), JSON.stringify(body)));
}

/**
 * A retry whose first request already completed: its stored response will be replayed, so work done
 * before the transaction (an external system's change) must not be repeated for it.
 */
export function hasStoredResponse(db: Db, request: IdempotentRequest, now: Date): Promise<boolean> {
  return hasCompletedResponse(db, request.scope, request.key, new Date(now.getTime() - IDEMPOTENCY_TTL_MS));
}
