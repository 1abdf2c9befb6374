/**
 * The HMAC pepper API keys are hashed with (see KeyHasher). An operator-supplied PORTCULLIS_KEY_PEPPER wins;
 * otherwise the pepper lives in the secret store, created at random on first start. Concurrent first starts
 * agree on one pepper: only one insert wins and everyone reads the winner back.
 */
import { randomBytes } from 'node:crypto';
import { SecretError } from './errors.js';
import type { SecretStore } from './store.js';

export const PEPPER_SECRET_NAME = 'portcullis/api-key-pepper';
export const PEPPER_PURPOSE = 'api-key-pepper';
export const PEPPER_BYTES = 32;

/** The pepper's bytes (≥ 32). The environment value is taken as UTF-8, exactly as KeyHasher takes a string. */
export async function loadPepper(store: SecretStore, env: Readonly<Record<string, string | undefined>> = process.env): Promise<Buffer> {
  const configured = env['PORTCULLIS_KEY_PEPPER'];
  if (configured !== undefined && configured !== '') {
    const bytes = Buffer.from(configured, 'utf8');
    if (bytes.length < PEPPER_BYTES) throw new SecretError('invalid_input', `PORTCULLIS_KEY_PEPPER must be at least ${PEPPER_BYTES} bytes`);
    return bytes;
  }
  const existing = await store.get(PEPPER_SECRET_NAME, PEPPER_PURPOSE);
  if (existing === undefined) {
    const fresh = randomBytes(PEPPER_BYTES);
    try {
      await store.putIfAbsent(PEPPER_SECRET_NAME, fresh, PEPPER_PURPOSE);
    } finally {
      fresh.fill(0);
    }
  }
  const value = existing ?? (await store.require(PEPPER_SECRET_NAME, PEPPER_PURPOSE));
  try {
    return value.bytes();
  } finally {
    value.wipe();
  }
}
