/**
 * Where sealed secrets live. Rows hold only ciphertext and wrapped keys; every write is one statement, so a
 * row is always either the old complete value or the new complete value.
 */

/** Everything needed to open a secret, given its provider. */
export interface SealedSecret {
  readonly name: string;
  readonly purpose: string;
  /** Provider that wrapped the data key (`local` or `aws-kms`). */
  readonly provider: string;
  /** Master key id (local) or KMS key ARN (aws-kms). */
  readonly keyId: string;
  readonly wrappedKey: Buffer;
  readonly iv: Buffer;
  readonly tag: Buffer;
  readonly ciphertext: Buffer;
}

export interface SecretMetadata {
  readonly name: string;
  readonly purpose: string;
  readonly provider: string;
  readonly keyId: string;
  /** Starts at 1 and grows with every replacement or re-wrap. */
  readonly version: number;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface SecretRow extends SealedSecret, SecretMetadata {}

export interface Rewrapping {
  readonly provider: string;
  readonly keyId: string;
  readonly wrappedKey: Buffer;
}

export interface SecretRepository {
  find(name: string): Promise<SecretRow | undefined>;
  /** Insert, or replace the value of an existing name (version + 1). */
  upsert(secret: SealedSecret): Promise<SecretMetadata>;
  /** Insert unless the name exists; true when this call created it. */
  insertIfAbsent(secret: SealedSecret): Promise<boolean>;
  /** Swap the wrapped data key if the row is still at `expectedVersion`; false when it changed meanwhile. */
  replaceWrapping(name: string, expectedVersion: number, wrapping: Rewrapping): Promise<boolean>;
  delete(name: string): Promise<boolean>;
  /** Metadata of every secret, by name. */
  list(): Promise<SecretMetadata[]>;
  /** Up to `limit` rows with names after `afterName`, by name: for walking the table in pages. */
  page(afterName: string | undefined, limit: number): Promise<SecretRow[]>;
}
