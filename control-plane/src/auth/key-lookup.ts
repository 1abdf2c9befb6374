/**
 * Database-backed lookups for the shared ApiKeyResolver: the control plane authenticates API keys with
 * the data plane's code, but reads each key fresh from the database instead of a compiled snapshot.
 */
import type { KeySecretEntry } from '../../../authz-service/src/state/compile.js';
import { compileKey } from '../../../authz-service/src/state/compile.js';
import type { ConsumerSpec } from '../../../authz-service/src/state/schema.js';
import { findConsumer } from '../store/consumers.js';
import { findKeyByHash } from '../store/keys.js';
import type { Db } from '../store/rows.js';
import { consumerSpec, keySpec } from '../services/state-document.js';

export interface KeyLookups {
  lookupKey(hash: string): Promise<KeySecretEntry | undefined>;
  lookupConsumer(id: string): Promise<ConsumerSpec | undefined>;
}

export function databaseKeyLookups(db: Db): KeyLookups {
  return {
    async lookupKey(hash) {
      const record = await findKeyByHash(db, hash);
      const spec = record && keySpec(record);
      const secret = record?.secrets.find((s) => s.hash === hash);
      if (!spec || !secret) return undefined;
      const key = compileKey(spec);
      return secret.notAfter === undefined ? { key } : { key, notAfterMs: Date.parse(secret.notAfter) };
    },
    async lookupConsumer(id) {
      const consumer = await findConsumer(db, id);
      return consumer && consumerSpec(consumer);
    },
  };
}
