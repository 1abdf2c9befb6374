/**
 * Key rotation without downtime. Walks the table in pages and moves each row's wrapped data key under the
 * current key: values are never re-encrypted, only their data keys re-wrapped, and each row is replaced by one
 * compare-and-swap UPDATE. Until a row is replaced it still opens with the old key (which stays configured),
 * after that with the new one, so readers never see a gap. A row changed meanwhile (a put) was already written
 * under the current key and is left alone.
 */
import { encryptionContext } from './context.js';
import { isSecretError, type SecretErrorReason } from './errors.js';
import type { WrappedKey } from './key-wrap.js';
import type { ProviderSet } from './provider-set.js';
import type { SecretRepository, SecretRow } from './repository.js';
import { usingWiped } from './secret-value.js';

export interface RewrapOptions {
  /** Rows read per query. */
  readonly pageSize?: number;
}

export interface RewrapFailure {
  readonly name: string;
  readonly reason: SecretErrorReason;
  readonly message: string;
}

export interface RewrapReport {
  /** Rows looked at. */
  readonly examined: number;
  /** Rows whose data key now sits under the current key because of this run. */
  readonly rewrapped: number;
  /** Rows already under the current key. */
  readonly alreadyCurrent: number;
  /** Rows replaced by a concurrent write while being re-wrapped (they were written under the current key). */
  readonly changedMeanwhile: number;
  /** Rows that could not be re-wrapped; they keep their old, still valid, wrapping. */
  readonly failed: readonly RewrapFailure[];
  /** False when the run stopped early because KMS was unavailable; run it again later. */
  readonly complete: boolean;
}

/** The row's data key under the current key, or undefined when it already is. */
async function rewrapRow(row: SecretRow, providers: ProviderSet): Promise<WrappedKey | undefined> {
  const context = encryptionContext(row.name, row.purpose);
  const current = providers.current;
  if (row.provider === current.name) return current.rewrap({ keyId: row.keyId, wrapped: row.wrappedKey }, context);
  const dataKey = await providers.unwrap(row, context, row.purpose);
  return usingWiped(dataKey, (key) => current.wrap(key, context));
}

export async function rewrapAll(repository: SecretRepository, providers: ProviderSet, options: RewrapOptions = {}): Promise<RewrapReport> {
  const pageSize = options.pageSize ?? 100;
  let examined = 0;
  let rewrapped = 0;
  let alreadyCurrent = 0;
  let changedMeanwhile = 0;
  const failed: RewrapFailure[] = [];
  let after: string | undefined;
  for (;;) {
    const rows = await repository.page(after, pageSize);
    if (rows.length === 0) break;
    for (const row of rows) {
      after = row.name;
      examined++;
      try {
        const wrapping = await rewrapRow(row, providers);
        if (wrapping === undefined) {
          alreadyCurrent++;
        } else if (await repository.replaceWrapping(row.name, row.version, { provider: providers.current.name, keyId: wrapping.keyId, wrappedKey: wrapping.wrapped })) {
          rewrapped++;
        } else {
          changedMeanwhile++;
        }
      } catch (error) {
        if (!isSecretError(error)) throw error;
        failed.push({ name: row.name, reason: error.reason, message: error.message });
        if (error.reason === 'kms_unavailable') return { examined, rewrapped, alreadyCurrent, changedMeanwhile, failed, complete: false };
      }
    }
  }
  return { examined, rewrapped, alreadyCurrent, changedMeanwhile, failed, complete: true };
}
