/**
 * The API-key lifecycle: create (the secret is returned once), update, revoke, restore, rotate with a
 * grace period, extend expiry. Secrets come from the key's provisioner (minted here, or obtained from
 * 3scale) and are hashed by the data plane's own key code, so there is one definition of what a key is.
 *
 * Operations that involve a provisioner come in pairs: `prepareX` runs before the transaction (it may
 * call an external system) and `x` records the outcome inside it; see provisioning/external-change.ts.
 */
import type { KeyHasher } from '../../../authz-service/src/credentials/api-key/format.js';
import type { LimitSpec } from '../../../authz-service/src/state/schema.js';
import type { KeyPatch, KeyResource, KeyStatus } from '../api/keys.js';
import { newId } from '../ids.js';
import { ProblemError, conflict, invalid, notFound, type FieldError } from '../problem-error.js';
import type { ExternalChange } from '../provisioning/external-change.js';
import type { KeyEffect, KeyMaterial, KeyProvisioner, KeyTerms, ManagedKeyField } from '../provisioning/provisioner.js';
import type { KeyProvisioners } from '../provisioning/router.js';
import * as keys from '../store/keys.js';
import type { KeyRecord } from '../store/keys.js';
import type { Page, PageRequest } from '../store/paging.js';
import { compact, type Db } from '../store/rows.js';
import { planIdFor, requireConsumer, serviceIdsFor, serviceTargetsFor } from './references.js';
import { keyCoreFields, liveSecrets } from './state-document.js';
import type { UnitOfWork } from './unit-of-work.js';

const RESOURCE = 'key';
/** The state schema's bound on secrets per key: the current one plus superseded ones in grace. */
export const MAX_LIVE_SECRETS = 8;

export interface KeyHooks {
  /**
   * Runs inside the create transaction after the key row is written and before its secret and services
   * are: where a crash would hurt most. Used by the crash-safety test; never set in production.
   */
  readonly duringKeyCreate?: (keyId: string) => Promise<void>;
}

export interface NewKey {
  readonly consumerId: string;
  readonly name?: string;
  /** Service names or ids; empty: every service. */
  readonly services: readonly string[];
  readonly scopes: readonly string[];
  /** Ignored when the provisioner dictates terms (see KeyMaterial.terms). */
  readonly plan?: string;
  readonly limits: readonly LimitSpec[];
  readonly expiresAt?: string;
}

export interface IssuedKey {
  readonly record: KeyRecord;
  /** The plaintext key: hand it to the caller once, keep it nowhere. */
  readonly secret: string;
}

export function keyStatus(k: KeyRecord, nowMs: number): KeyStatus {
  if (k.revokedAt !== undefined) return k.awaitingApproval ? 'pending_approval' : 'revoked';
  if (k.expiresAt !== undefined && Date.parse(k.expiresAt) <= nowMs) return 'expired';
  return 'active';
}

export function keyResource(k: KeyRecord, nowMs: number): KeyResource {
  const live = liveSecrets(k, nowMs);
  return compact({
    ...keyCoreFields(k),
    name: k.name,
    prefix: (live[0] ?? k.secrets[0])?.prefix ?? '',
    revoked_at: k.revokedAt,
    status: keyStatus(k, nowMs),
    secrets: live.map((s) => compact({ prefix: s.prefix, created_at: s.createdAt, not_after: s.notAfter })),
    last_used_at: k.lastUsedAt,
    created_at: k.createdAt,
    updated_at: k.updatedAt,
  });
}

/** What an audit row may say about a key: its metadata, never a hash. */
function auditView(k: KeyRecord): Record<string, unknown> {
  const { secrets, lastUsedAt: _l, ...rest } = k;
  return { ...rest, secret_prefixes: secrets.map((s) => s.prefix) };
}

function requireFuture(expiresAt: string | undefined | null, now: Date, path: string): void {
  if (expiresAt != null && Date.parse(expiresAt) <= now.getTime()) throw invalid(path, 'must be in the future');
}

const cannotRotate = (k: KeyRecord) =>
  conflict(k.awaitingApproval ? `key "${k.id}" awaits approval by its provisioner; it cannot be rotated before` : `key "${k.id}" is revoked; a revoked key cannot be rotated`);

/**
 * Revoked by a decision (a person, or the system of record suspending it). A key awaiting approval is
 * stored revoked too, but revoking it is still a decision to make: it must not become active on approval.
 */
const revokedByDecision = (k: KeyRecord) => k.revokedAt !== undefined && k.awaitingApproval !== true;

export async function getKey(db: Db, id: string, ownerConsumerId?: string): Promise<KeyRecord> {
  const key = await keys.findKey(db, id, ownerConsumerId);
  if (!key) throw notFound(`key "${id}"`);
  return key;
}

export function listKeys(db: Db, page: PageRequest, filter: keys.KeyFilter): Promise<Page<KeyRecord>> {
  return keys.listKeys(db, page, filter);
}

/**
 * Refuses values for fields the key's provisioner decides (a 3scale key's service, plan and limits). An
 * empty limits list is what a request without limits carries, so it counts as not given.
 */
function refuseManaged(provisioner: KeyProvisioner, fields: Partial<Record<ManagedKeyField, unknown>>, path: string): void {
  const given = (field: ManagedKeyField) => {
    const value = fields[field];
    return value !== undefined && !(field === 'limits' && Array.isArray(value) && value.length === 0);
  };
  const errors: FieldError[] = provisioner.managedFields.filter(given).map((f) => ({ path: `${path}.${f}`, message: `decided by ${provisioner.name} for this key` }));
  if (errors.length > 0) {
    throw new ProblemError('validation_failed', `this key is provisioned by ${provisioner.name}, which decides its ${provisioner.managedFields.filter(given).join(', ')}`, errors);
  }
}

/** What a key's audit row says about where its secret came from, besides the key itself. */
const originOf = (effect: KeyEffect | undefined) => (effect?.origin ? { origin: effect.origin } : {});

export interface CreateRequest {
  readonly consumerId: string;
  /** Service names or ids; empty: every service. */
  readonly services: readonly string[];
  readonly name?: string;
  readonly plan?: string;
  readonly limits?: readonly LimitSpec[];
}

export class KeyLifecycle {
  constructor(
    private readonly hasher: KeyHasher,
    readonly provisioners: KeyProvisioners,
    private readonly hooks: KeyHooks = {},
  ) {}

  // ── before the transaction ─────────────────────────────────────────────────────────────

  /**
   * The new key's secret, from the provisioner of its services. `path` names the services field in errors.
   * The provisioner may say the key awaits approval (KeyMaterial.awaitingApproval): `create` stores it inactive.
   */
  async prepareCreate(db: Db, request: CreateRequest, path = 'body.services'): Promise<ExternalChange<KeyMaterial>> {
    const targets = await serviceTargetsFor(db, request.services, path);
    const provisioner = this.provisioners.forServices(targets, path);
    refuseManaged(provisioner, { plan: request.plan, limits: request.limits }, path.slice(0, path.lastIndexOf('.')));
    return provisioner.issue(db, compact({ consumerId: request.consumerId, services: targets, name: request.name }));
  }

  async prepareRotate(db: Db, id: string, ownerConsumerId?: string): Promise<ExternalChange<KeyMaterial>> {
    const key = await getKey(db, id, ownerConsumerId);
    if (key.revokedAt !== undefined) throw cannotRotate(key);
    return (await this.provisioners.forKey(db, id)).reissue(db, key);
  }

  /** Undefined when there is nothing to do (already revoked). */
  async prepareRevoke(db: Db, id: string, ownerConsumerId?: string): Promise<ExternalChange<KeyEffect> | undefined> {
    const key = await getKey(db, id, ownerConsumerId);
    if (revokedByDecision(key)) return undefined;
    return (await this.provisioners.forKey(db, id)).suspend(db, key);
  }

  async prepareRestore(db: Db, id: string): Promise<ExternalChange<KeyEffect> | undefined> {
    const key = await getKey(db, id);
    if (key.revokedAt === undefined) return undefined;
    return (await this.provisioners.forKey(db, id)).resume(db, key);
  }

  // ── inside the transaction ─────────────────────────────────────────────────────────────

  async create(uow: UnitOfWork, input: NewKey, material: KeyMaterial): Promise<IssuedKey> {
    const id = newId('key', uow.now.getTime());
    await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'create' });
    await requireConsumer(uow.tx, input.consumerId);
    const serviceIds = await serviceIdsFor(uow.tx, input.services);
    const terms: KeyTerms = material.terms ?? compact({ plan: input.plan, limits: input.limits });
    const planId = await planIdFor(uow.tx, terms.plan);
    requireFuture(input.expiresAt, uow.now, 'body.expires_at');

    // a key awaiting approval is revoked from its first row on: there is no instant at which it works
    await keys.insertKey(
      uow.tx,
      id,
      input.consumerId,
      compact({ name: input.name, scopes: [...new Set(input.scopes)], planId, limits: terms.limits, expiresAt: input.expiresAt }),
      uow.now,
      material.awaitingApproval === true,
    );
    await this.hooks.duringKeyCreate?.(id);
    await keys.insertSecret(uow.tx, id, { hash: this.hasher.hash(material.secret), prefix: material.prefix }, uow.now);
    await keys.setKeyServices(uow.tx, id, serviceIds);
    await material.record?.(uow.tx, id, uow.now);
    const record = await getKey(uow.tx, id);
    uow.audit({ resourceType: RESOURCE, resourceId: id, change: { after: auditView(record), ...originOf(material) } });
    return { record, secret: material.secret };
  }

  async update(uow: UnitOfWork, id: string, patch: KeyPatch, ownerConsumerId?: string): Promise<KeyRecord> {
    refuseManaged(await this.provisioners.forKey(uow.tx, id), patch, 'body');
    return this.#update(uow, id, patch, ownerConsumerId);
  }

  /** The plan and limits the key's external system now dictates (reconciliation). */
  applyTerms(uow: UnitOfWork, id: string, terms: KeyTerms): Promise<KeyRecord> {
    return this.#update(uow, id, { plan: terms.plan ?? null, limits: [...terms.limits] });
  }

  async #update(uow: UnitOfWork, id: string, patch: KeyPatch, ownerConsumerId?: string): Promise<KeyRecord> {
    const before = await getKey(uow.tx, id, ownerConsumerId);
    await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'update' });
    if (patch.services !== undefined) await keys.setKeyServices(uow.tx, id, await serviceIdsFor(uow.tx, patch.services));
    requireFuture(patch.expires_at, uow.now, 'body.expires_at');
    const name = patch.name === undefined ? before.name : patch.name;
    const plan = patch.plan === undefined ? before.plan : patch.plan;
    const expiresAt = patch.expires_at === undefined ? before.expiresAt : patch.expires_at;
    const planId = await planIdFor(uow.tx, plan);
    await keys.updateKey(
      uow.tx,
      id,
      compact({
        name: name ?? undefined,
        scopes: patch.scopes ? [...new Set(patch.scopes)] : before.scopes,
        planId,
        limits: patch.limits ?? before.limits,
        expiresAt: expiresAt ?? undefined,
      }),
      uow.now,
    );
    const after = await getKey(uow.tx, id);
    uow.audit({ resourceType: RESOURCE, resourceId: id, change: { before: auditView(before), after: auditView(after) } });
    return after;
  }

  /**
   * Revoking twice is not an error: the key stays revoked since the first time. Revoking a key awaiting
   * approval ends the wait: approval no longer activates it.
   */
  async revoke(uow: UnitOfWork, id: string, reason: string | undefined, ownerConsumerId?: string, effect?: KeyEffect): Promise<KeyRecord> {
    const before = await getKey(uow.tx, id, ownerConsumerId);
    if (revokedByDecision(before)) return before;
    await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'revoke' });
    await keys.setRevoked(uow.tx, id, uow.now, uow.now);
    await effect?.record?.(uow.tx, id, uow.now);
    uow.audit({ resourceType: RESOURCE, resourceId: id, change: compact({ revoked: true, reason, was_awaiting_approval: before.awaitingApproval, ...originOf(effect) }) });
    return getKey(uow.tx, id);
  }

  async restore(uow: UnitOfWork, id: string, effect?: KeyEffect): Promise<KeyRecord> {
    const before = await getKey(uow.tx, id);
    if (before.revokedAt === undefined) return before;
    await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'restore' });
    await keys.setRevoked(uow.tx, id, null, uow.now);
    await effect?.record?.(uow.tx, id, uow.now);
    uow.audit({
      resourceType: RESOURCE,
      resourceId: id,
      change: compact({ revoked: false, was_revoked_at: before.revokedAt, was_awaiting_approval: before.awaitingApproval, ...originOf(effect) }),
    });
    return getKey(uow.tx, id);
  }

  /**
   * New secret, same key: id, consumer, services, usage and buckets stay. The superseded secrets keep
   * working until now + grace (0: they stop now), then die.
   */
  async rotate(uow: UnitOfWork, id: string, graceSeconds: number, ownerConsumerId: string | undefined, material: KeyMaterial): Promise<IssuedKey> {
    await getKey(uow.tx, id, ownerConsumerId);
    await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'rotate' });
    const before = await keys.findKey(uow.tx, id, ownerConsumerId, true);
    if (!before) throw notFound(`key "${id}"`);
    if (before.revokedAt !== undefined) throw cannotRotate(before);
    const graceEnd = new Date(uow.now.getTime() + graceSeconds * 1000);
    const live = await keys.endSecrets(uow.tx, id, graceEnd, uow.now);
    if (live >= MAX_LIVE_SECRETS) {
      throw conflict(`key "${id}" already has ${live} secrets in their grace period; rotate with a shorter grace or wait`);
    }
    await keys.insertSecret(uow.tx, id, { hash: this.hasher.hash(material.secret), prefix: material.prefix }, uow.now);
    await material.record?.(uow.tx, id, uow.now);
    const record = await getKey(uow.tx, id);
    uow.audit({
      resourceType: RESOURCE,
      resourceId: id,
      change: { rotated: true, grace_seconds: graceSeconds, superseded_until: graceEnd.toISOString(), new_prefix: material.prefix, ...originOf(material) },
    });
    return { record, secret: material.secret };
  }

  /** Moves expiry later; shortening it is a PATCH. */
  async extend(uow: UnitOfWork, id: string, expiresAt: string): Promise<KeyRecord> {
    const before = await getKey(uow.tx, id);
    if (before.expiresAt === undefined) throw conflict(`key "${id}" never expires; set an expiry with PATCH instead`);
    if (Date.parse(expiresAt) <= Date.parse(before.expiresAt)) {
      throw invalid('body.expires_at', `must be later than the current expiry ${before.expiresAt}`);
    }
    requireFuture(expiresAt, uow.now, 'body.expires_at');
    return this.#update(uow, id, { expires_at: expiresAt });
  }
}
