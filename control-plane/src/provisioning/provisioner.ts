/**
 * Where a key's secret comes from. The built-in provisioner mints Portcullis keys; an external one (3scale)
 * obtains the secret from the system of record there and Portcullis mirrors it, hashed. Either way the key
 * lifecycle stores the same rows and the data plane verifies the key locally.
 *
 * Every operation is two-phase: the provisioner runs BEFORE the database transaction (it may call a remote
 * API) and returns an ExternalChange; the transaction then records the change (`record`) or, if it fails or
 * does not use it, the change is undone. See external-change.ts.
 */
import type { LimitSpec } from '../../../authz-service/src/state/schema.js';
import type { KeyRecord } from '../store/keys.js';
import type { Db } from '../store/rows.js';
import type { ExternalChange } from './external-change.js';

export type ProvisionerName = 'builtin' | 'threescale';

/** Key fields an external system decides; a PATCH from Portcullis' side may not change them. */
export type ManagedKeyField = 'services' | 'plan' | 'limits';

export interface ServiceTarget {
  readonly id: string;
  readonly name: string;
}

export interface IssueRequest {
  readonly consumerId: string;
  /** Resolved services the key is for; empty: every service. */
  readonly services: readonly ServiceTarget[];
  readonly name?: string;
}

/** Plan and limits the external system dictates (a 3scale application plan), overriding the request's. */
export interface KeyTerms {
  readonly plan?: string;
  readonly limits: readonly LimitSpec[];
}

/** What the transaction does besides the key rows: link the key to the external record. */
export interface KeyEffect {
  /** Runs inside the key's transaction, after its rows are written. */
  readonly record?: (tx: Db, keyId: string, now: Date) => Promise<void>;
  /** Safe facts for the key's audit row (ids in the external system; never a secret). */
  readonly origin?: Readonly<Record<string, string>>;
}

export interface KeyMaterial extends KeyEffect {
  /** The plaintext secret: hashed into the store, returned to the caller once, kept nowhere. */
  readonly secret: string;
  /** Display prefix: enough to tell keys apart, never enough to use one. */
  readonly prefix: string;
  readonly terms?: KeyTerms;
  /**
   * The external system has not approved the key yet (e.g. a 3scale plan that requires approval): the new
   * key is stored inactive (status `pending_approval`) and opens nothing until the provisioner restores it.
   * Read by `create` only; a rotation's secret belongs to a key that is active already.
   */
  readonly awaitingApproval?: boolean;
}

export interface KeyProvisioner {
  readonly name: ProvisionerName;
  readonly managedFields: readonly ManagedKeyField[];
  /** The secret of a new key. */
  issue(db: Db, request: IssueRequest): Promise<ExternalChange<KeyMaterial>>;
  /** A new secret for an existing key (rotation). */
  reissue(db: Db, key: KeyRecord): Promise<ExternalChange<KeyMaterial>>;
  /** The key is being revoked. Never fails for an unreachable external system: revocation must always work. */
  suspend(db: Db, key: KeyRecord): Promise<ExternalChange<KeyEffect>>;
  /**
   * The key is being restored; fails cleanly when the external system cannot confirm it, and refuses (409)
   * a key whose approval there is still outstanding.
   */
  resume(db: Db, key: KeyRecord): Promise<ExternalChange<KeyEffect>>;
}

/** A provisioner for some services only, which knows the keys it owns. */
export interface ExternalProvisioner extends KeyProvisioner {
  handles(serviceName: string): boolean;
  owns(db: Db, keyId: string): Promise<boolean>;
}
