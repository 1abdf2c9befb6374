/**
 * Consumers and keys between their three forms: the declarative StateSchema shape (control plane, snapshot
 * files), the sync protocol's compact messages, and what the replica's indexes take.
 *
 * Whatever arrives is checked before it reaches an index. Consumers go through the StateSchema's own zod
 * schema. Keys are checked by hand against the same rules, because a million keys through zod take seconds;
 * a test holds the two to agreement.
 */
import type { KeyInput, KeyOutput, SecretInput } from '../state/key-table.js';
import { decodeDigest, DIGEST_BYTES } from '../state/key-table.js';
import { ConsumerSchema, type ConsumerSpec, type KeySchema, type KeySpec, SLUG, WINDOW } from '../state/schema.js';
import type { z } from 'zod';

/** A key as a document holds it: the schema's input shape, defaults optional. */
export type KeyDocument = z.input<typeof KeySchema>;
import type { WireConsumer, WireKey } from './messages.js';

export type Checked<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly problem: string };

const MAX_ID = 128;
const MAX_SECRETS = 8;
const MAX_LIMITS = 16;
const MAX_REQUESTS = 1_000_000_000;
const SCOPE = /^[\x21-\x7e]{1,200}$/;

const isText = (v: unknown, max: number): v is string => typeof v === 'string' && v.length >= 1 && v.length <= max;
const isEpochMs = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function stringsMatch(values: unknown, pattern: RegExp): values is string[] {
  if (!Array.isArray(values)) return false;
  for (const v of values) if (typeof v !== 'string' || !pattern.test(v)) return false;
  return true;
}

/** KeySchema's rules, for a key already in the index's shape. Undefined when the key is fine. */
export function keyProblem(k: KeyInput): string | undefined {
  if (!isText(k.id, MAX_ID)) return 'id must be 1-128 characters';
  if (!isText(k.consumerId, MAX_ID)) return 'consumer_id must be 1-128 characters';
  if (!Array.isArray(k.secrets) || k.secrets.length < 1 || k.secrets.length > MAX_SECRETS) return `secrets must hold 1-${MAX_SECRETS} entries`;
  for (const s of k.secrets) {
    if (!(s.digest instanceof Uint8Array) || s.digest.length !== DIGEST_BYTES) return 'every secret needs a 32-byte HMAC-SHA256 digest';
    if (s.notAfterMs !== undefined && !isEpochMs(s.notAfterMs)) return 'a secret not_after must be a time';
  }
  if (!stringsMatch(k.services, SLUG)) return 'services must be service names';
  if (!stringsMatch(k.scopes, SCOPE)) return 'scopes must be printable ASCII without spaces';
  if (k.plan !== undefined && (typeof k.plan !== 'string' || !SLUG.test(k.plan))) return 'plan must be a plan name';
  if (!Array.isArray(k.limits) || k.limits.length > MAX_LIMITS) return `limits must hold at most ${MAX_LIMITS} entries`;
  for (const l of k.limits) {
    if (typeof l?.window !== 'string' || !WINDOW.test(l.window)) return 'a limit window must look like 1s, 1m, 1h or 1d';
    if (!Number.isInteger(l.requests) || l.requests < 1 || l.requests > MAX_REQUESTS) return 'a limit needs 1-1000000000 requests';
  }
  if (k.expiresAtMs !== undefined && !isEpochMs(k.expiresAtMs)) return 'expires_at must be a time';
  if (typeof k.revoked !== 'boolean') return 'revoked must be true or false';
  return undefined;
}

function checked<T extends { readonly id: string }>(value: T, problem: string | undefined, what: string): Checked<T> {
  return problem === undefined ? { ok: true, value } : { ok: false, problem: `${what} ${JSON.stringify(String(value.id).slice(0, MAX_ID))}: ${problem}` };
}

// ── keys ──────────────────────────────────────────────────────────────────────

export function keyFromWire(w: WireKey): Checked<KeyInput> {
  const input: KeyInput = {
    id: w.id,
    consumerId: w.consumer_id,
    secrets: w.secrets.map((s) => (s.not_after_ms === 0 ? { digest: s.digest } : { digest: s.digest, notAfterMs: s.not_after_ms })),
    services: w.services,
    scopes: w.scopes,
    ...(w.plan !== '' ? { plan: w.plan } : {}),
    limits: w.limits,
    ...(w.expires_at_ms !== 0 ? { expiresAtMs: w.expires_at_ms } : {}),
    revoked: w.revoked,
  };
  return checked(input, keyProblem(input), 'key');
}

function isoMs(value: unknown): number | undefined | null {
  if (value === undefined) return undefined;
  if (typeof value !== 'string') return null;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

/** A key in the StateSchema shape (a snapshot file's line), checked. */
export function keyFromDocument(raw: unknown): Checked<KeyInput> {
  if (typeof raw !== 'object' || raw === null) return { ok: false, problem: 'a key must be an object' };
  const k = raw as Record<string, unknown>;
  const id = typeof k['id'] === 'string' ? k['id'] : '';
  const fail = (problem: string): Checked<KeyInput> => ({ ok: false, problem: `key ${JSON.stringify(id.slice(0, MAX_ID))}: ${problem}` });
  const secrets: SecretInput[] = [];
  for (const s of Array.isArray(k['secrets']) ? (k['secrets'] as unknown[]) : []) {
    const secret = s as Record<string, unknown> | null;
    const digest = new Uint8Array(DIGEST_BYTES);
    if (typeof secret?.['hash'] !== 'string' || !decodeDigest(secret['hash'], digest)) return fail('every secret needs a base64url HMAC-SHA256 hash');
    const notAfterMs = isoMs(secret['not_after']);
    if (notAfterMs === null) return fail('a secret not_after must be an ISO date-time');
    secrets.push(notAfterMs === undefined ? { digest } : { digest, notAfterMs });
  }
  const expiresAtMs = isoMs(k['expires_at']);
  if (expiresAtMs === null) return fail('expires_at must be an ISO date-time');
  const input = {
    id,
    consumerId: k['consumer_id'] as string,
    secrets,
    services: (k['services'] ?? []) as string[],
    scopes: (k['scopes'] ?? []) as string[],
    ...(k['plan'] !== undefined ? { plan: k['plan'] as string } : {}),
    limits: (k['limits'] ?? []) as KeyInput['limits'],
    ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
    revoked: (k['revoked'] ?? false) as boolean,
  };
  return checked(input, keyProblem(input), 'key');
}

const iso = (ms: number) => new Date(ms).toISOString();

/** A key read out of the index, in the StateSchema shape; fields at their schema default are left out. */
export function keyToDocument(k: KeyOutput): KeyDocument {
  return {
    id: k.id,
    consumer_id: k.consumerId,
    secrets: k.secrets.map((s) => (s.notAfterMs === undefined ? { hash: s.hash } : { hash: s.hash, not_after: iso(s.notAfterMs) })),
    ...(k.services.length > 0 ? { services: [...k.services] } : {}),
    ...(k.scopes.length > 0 ? { scopes: [...k.scopes] } : {}),
    ...(k.plan !== undefined ? { plan: k.plan } : {}),
    ...(k.limits.length > 0 ? { limits: k.limits.map((l) => ({ window: l.window, requests: l.requests })) } : {}),
    ...(k.expiresAtMs !== undefined ? { expires_at: iso(k.expiresAtMs) } : {}),
    ...(k.revoked ? { revoked: true } : {}),
  };
}

/** The control plane's KeySpec on the wire: digests as raw bytes, times as epoch ms. */
export function keyToWire(k: KeySpec): WireKey {
  return {
    id: k.id,
    consumer_id: k.consumer_id,
    secrets: k.secrets.map((s) => ({ digest: Buffer.from(s.hash, 'base64url'), not_after_ms: s.not_after === undefined ? 0 : Date.parse(s.not_after) })),
    services: k.services,
    scopes: k.scopes,
    plan: k.plan ?? '',
    limits: k.limits,
    expires_at_ms: k.expires_at === undefined ? 0 : Date.parse(k.expires_at),
    revoked: k.revoked,
  };
}

// ── consumers ─────────────────────────────────────────────────────────────────

/** A consumer in the StateSchema shape, checked by the schema itself. */
export function consumerFromDocument(raw: unknown): Checked<ConsumerSpec> {
  const parsed = ConsumerSchema.safeParse(raw);
  if (parsed.success) return { ok: true, value: Object.freeze(parsed.data) };
  const id = (raw as { id?: unknown } | null)?.id;
  const issue = parsed.error.issues[0]!;
  return { ok: false, problem: `consumer ${JSON.stringify(String(id ?? '').slice(0, MAX_ID))}: ${issue.path.join('.')}: ${issue.message}` };
}

export function consumerFromWire(w: WireConsumer): Checked<ConsumerSpec> {
  return consumerFromDocument({
    id: w.id,
    name: w.name,
    ...(w.plan !== '' ? { plan: w.plan } : {}),
    subjects: w.subjects.map((s) => ({ issuer: s.issuer, sub: s.sub })),
    disabled: w.disabled,
  });
}

export function consumerToWire(c: ConsumerSpec): WireConsumer {
  return { id: c.id, name: c.name, plan: c.plan ?? '', subjects: c.subjects, disabled: c.disabled };
}
