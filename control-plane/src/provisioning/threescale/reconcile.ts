/**
 * Reconciliation: 3scale is the system of record for the keys it provisions, Portcullis holds a mirror.
 * This compares the two and repairs drift in both directions, reporting (and auditing) every change:
 *
 * - an application of a linked account that no key mirrors → imported as a key (revoked if suspended,
 *   awaiting approval if pending);
 * - a mirrored application whose user_key changed → the key's secret follows (the old one ends now);
 *   whose plan or plan limits changed → the key's plan and limits follow; suspended → the key is revoked;
 *   resumed after a suspension → the key is restored; accepted while its key awaited approval → the key
 *   becomes active (a key someone revoked meanwhile stays revoked);
 * - a key whose application vanished → revoked;
 * - a revocation that never reached 3scale → the application is suspended now;
 * - an application created for a key that was never stored (an orphan) → deleted.
 *
 * Two phases, like every provisioning step: everything is read from 3scale first (the snapshot; the only
 * writes there are the repairs just listed for orphans and pending suspensions), then one transaction
 * applies the differences under the state lock. A 3scale error while reading aborts the whole run, so a
 * partial listing can never look like vanished applications; a service 3scale (or Portcullis) does not know
 * is skipped, never emptied.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { displayPrefix, type KeyHasher } from '../../../../authz-service/src/credentials/api-key/format.js';
import { RECONCILE_CHANGES, type ReconcileChangeKind, type ReconcileItem, type ReconcileReport } from '../../api/provisioners.js';
import type { Caller } from '../../auth/actor.js';
import { ProblemError } from '../../problem-error.js';
import type { KeyLifecycle } from '../../services/keys.js';
import { inUnitOfWork, type UnitOfWork } from '../../services/unit-of-work.js';
import { findKeyByHash } from '../../store/keys.js';
import { findService } from '../../store/services.js';
import {
  consumersByAccount,
  deleteOrphan,
  insertLink,
  linkedApplications,
  linkStateOf,
  listOrphans,
  mirroredKeys,
  pendingSuspensions,
  updateLink,
  type MirroredKey,
} from '../../store/threescale.js';
import type { KeyTerms } from '../provisioner.js';
import type { ThreescaleApplication, ThreescaleClient } from './client.js';
import type { ThreescaleServiceConfig } from './config.js';
import type { PlanCatalog } from './plans.js';
import { awaitsApproval, transition, type ThreescaleProvisioner } from './provisioner.js';
import type { Tenants } from './tenants.js';

interface ServiceSnapshot {
  readonly mapping: ThreescaleServiceConfig;
  readonly tenant: string;
  /** The Portcullis service's id. */
  readonly serviceRowId: string;
  readonly applications: readonly ThreescaleApplication[];
  /** Terms by 3scale plan id, or why they could not be worked out. */
  readonly terms: ReadonlyMap<string, KeyTerms | { readonly problem: string }>;
}

export interface Snapshot {
  readonly startedAt: Date;
  readonly services: readonly ServiceSnapshot[];
  readonly skipped: readonly { service: string; reason: string }[];
  readonly orphansDeleted: readonly ReconcileItem[];
  /** Orphans that could not be deleted this time: never imported. */
  readonly orphansLeft: ReadonlySet<string>;
  /** Keys whose pending suspension reached 3scale in this run. */
  readonly suspensionsSent: ReadonlyMap<string, ReconcileItem>;
  readonly problems: readonly string[];
}

export interface ReconcilerDeps {
  readonly db: Knex;
  readonly tenants: Tenants;
  readonly plans: PlanCatalog;
  readonly provisioner: ThreescaleProvisioner;
  readonly lifecycle: KeyLifecycle;
  readonly hasher: KeyHasher;
  readonly logger: Logger;
  readonly clock: () => number;
}

const sameLimits = (a: readonly { window: string; requests: number }[], b: readonly { window: string; requests: number }[]) =>
  JSON.stringify([...a].sort((x, y) => x.window.localeCompare(y.window))) === JSON.stringify([...b].sort((x, y) => x.window.localeCompare(y.window)));

class ReportBuilder {
  readonly changes = new Map<ReconcileChangeKind, ReconcileItem[]>(RECONCILE_CHANGES.map((c) => [c, []]));
  readonly unlinked: ReconcileItem[] = [];
  readonly problems: string[] = [];

  add(kind: ReconcileChangeKind, item: ReconcileItem): void {
    this.changes.get(kind)!.push(item);
  }

  build(snapshot: Snapshot, finishedAt: Date): ReconcileReport {
    const changes = Object.fromEntries([...this.changes.entries()].map(([k, items]) => [k, { count: items.length, items }])) as ReconcileReport['changes'];
    return {
      started_at: snapshot.startedAt.toISOString(),
      finished_at: finishedAt.toISOString(),
      services: { checked: snapshot.services.map((s) => s.mapping.service), skipped: [...snapshot.skipped] },
      applications: snapshot.services.reduce((n, s) => n + s.applications.length, 0),
      changed: [...this.changes.values()].reduce((n, items) => n + items.length, 0),
      changes,
      unlinked: { count: this.unlinked.length, items: this.unlinked },
      problems: [...snapshot.problems, ...this.problems],
    };
  }
}

export class ThreescaleReconciler {
  constructor(private readonly deps: ReconcilerDeps) {}

  /** Snapshot, then apply in one transaction as `caller`, under `action` in the audit log. */
  async run(caller: Caller, action = 'provisioner.reconcile'): Promise<ReconcileReport> {
    const snapshot = await this.snapshot();
    const { value } = await inUnitOfWork(this.deps.db, caller, action, this.deps.clock, async (uow) => ({ status: 200, value: await this.apply(uow, snapshot) }));
    return value;
  }

  // ── phase 1: read 3scale (and repair what lives only there) ──────────────────────────

  async snapshot(): Promise<Snapshot> {
    const { db, tenants, plans } = this.deps;
    const startedAt = new Date(this.deps.clock());
    plans.refresh();
    const skipped: { service: string; reason: string }[] = [];
    const problems: string[] = [];
    const orphansDeleted: ReconcileItem[] = [];
    const orphansLeft = new Set<string>();
    const suspensionsSent = new Map<string, ReconcileItem>();
    const services: ServiceSnapshot[] = [];

    const byTenant = new Map<string, ThreescaleServiceConfig[]>();
    for (const m of tenants.mappings()) byTenant.set(m.connection.tenantHost, [...(byTenant.get(m.connection.tenantHost) ?? []), m]);

    for (const [tenant, mappings] of byTenant) {
      const client = tenants.client(mappings[0]!);
      const known = new Set((await client.listServices()).map((s) => s.id));
      const serviceName = (serviceId: string) => mappings.find((m) => m.serviceId === serviceId)?.service ?? `3scale:${serviceId}`;

      for (const orphan of await listOrphans(db, tenant)) {
        const item = { application_id: orphan.applicationId, service: '' };
        try {
          const app = await client.readApplication(orphan.accountId, orphan.applicationId);
          const adopted = app !== undefined && (await linkedApplications(db, tenant, [app.id])).has(app.id);
          if (app !== undefined && !adopted) {
            await client.deleteApplication(orphan.accountId, orphan.applicationId);
            orphansDeleted.push({ ...item, service: serviceName(app.service_id) });
          }
          await deleteOrphan(db, tenant, orphan.applicationId);
        } catch (error) {
          orphansLeft.add(orphan.applicationId);
          problems.push(`orphan application ${orphan.applicationId} of ${tenant} could not be deleted: ${error instanceof Error ? error.message : 'failed'}`);
        }
      }

      for (const link of await pendingSuspensions(db, tenant)) {
        try {
          await transition(client, link, 'suspended');
          suspensionsSent.set(link.keyId, { key_id: link.keyId, application_id: link.applicationId, service: serviceName(link.serviceId) });
        } catch (error) {
          // a vanished application is handled below (its key is revoked already); anything else waits
          this.deps.logger.warn({ tenant, application: link.applicationId, err: error }, 'pending 3scale suspension still not possible');
        }
      }

      for (const mapping of mappings) {
        const row = await findService(db, mapping.service);
        if (!row) {
          skipped.push({ service: mapping.service, reason: 'no such Portcullis service' });
          continue;
        }
        if (!known.has(mapping.serviceId)) {
          skipped.push({ service: mapping.service, reason: `3scale has no service ${mapping.serviceId}` });
          continue;
        }
        const applications = await client.listApplications(mapping.serviceId);
        const terms = new Map<string, KeyTerms | { problem: string }>();
        for (const planId of new Set(applications.map((a) => a.plan_id))) {
          terms.set(planId, await this.#terms(client, mapping, planId));
        }
        services.push({ mapping, tenant, serviceRowId: row.id, applications, terms });
      }
    }
    return { startedAt, services, skipped, orphansDeleted, orphansLeft, suspensionsSent, problems };
  }

  async #terms(client: ThreescaleClient, mapping: ThreescaleServiceConfig, planId: string): Promise<KeyTerms | { problem: string }> {
    try {
      return await this.deps.provisioner.terms(this.deps.db, client, mapping, planId);
    } catch (error) {
      // a bad plan mapping holds back the applications on that plan only
      if (error instanceof ProblemError && error.code === 'conflict') return { problem: error.detail };
      throw error;
    }
  }

  // ── phase 2: one transaction ─────────────────────────────────────────────────────────

  async apply(uow: UnitOfWork, snapshot: Snapshot): Promise<ReconcileReport> {
    // the lock first: a key provisioned concurrently must be seen as mirrored, not imported twice
    await uow.holdStateLock();
    const report = new ReportBuilder();
    for (const item of snapshot.orphansDeleted) report.add('orphans_deleted', item);
    for (const service of snapshot.services) await this.#applyService(uow, snapshot, service, report);
    return report.build(snapshot, new Date(this.deps.clock()));
  }

  async #applyService(uow: UnitOfWork, snapshot: Snapshot, service: ServiceSnapshot, report: ReportBuilder): Promise<void> {
    const name = service.mapping.service;
    const mirrored = await mirroredKeys(uow.tx, service.tenant, service.mapping.serviceId);
    const byApplication = new Map(mirrored.map((m) => [m.applicationId, m]));
    const accounts = await consumersByAccount(uow.tx, service.tenant);
    const seen = new Set<string>();

    for (const app of service.applications) {
      seen.add(app.id);
      const mirror = byApplication.get(app.id);
      const item = { application_id: app.id, service: name };
      if (mirror) {
        await this.#sync(uow, snapshot, service, app, mirror, report);
        continue;
      }
      if (snapshot.orphansLeft.has(app.id)) continue;
      const consumerId = accounts.get(app.account_id);
      if (consumerId === undefined || !app.user_key) {
        report.unlinked.push(item);
        continue;
      }
      await this.#import(uow, service, app, consumerId, report);
    }

    for (const mirror of mirrored) {
      if (seen.has(mirror.applicationId) || mirror.state === 'deleted') continue;
      const item = { key_id: mirror.keyId, application_id: mirror.applicationId, service: name };
      if (mirror.revoked && !mirror.awaitingApproval) {
        // revoked already (revoke would do nothing): only the link learns, so the next run does not report it again
        await updateLink(uow.tx, mirror.keyId, { state: 'deleted', pending: null }, uow.now);
        continue;
      }
      await this.deps.lifecycle.revoke(uow, mirror.keyId, 'the 3scale application no longer exists', undefined, {
        origin: { provisioner: 'threescale', tenant: service.tenant, application_id: mirror.applicationId },
        record: (tx, keyId, now) => updateLink(tx, keyId, { state: 'deleted', pending: null }, now),
      });
      report.add('revoked', item);
    }
  }

  #termsFor(service: ServiceSnapshot, app: ThreescaleApplication, report: ReportBuilder): KeyTerms | undefined {
    const terms = service.terms.get(app.plan_id);
    if (terms === undefined || 'problem' in terms) {
      report.problems.push(`application ${app.id} (${service.mapping.service}): ${terms && 'problem' in terms ? terms.problem : 'unknown plan'}`);
      return undefined;
    }
    return terms;
  }

  /** A secret already opening another key cannot be mirrored again (3scale keeps user_keys unique per service only). */
  async #clashes(uow: UnitOfWork, userKey: string, keyId: string | undefined, app: ThreescaleApplication, report: ReportBuilder): Promise<boolean> {
    const owner = await findKeyByHash(uow.tx, this.deps.hasher.hash(userKey));
    if (owner === undefined || owner.id === keyId) return false;
    report.problems.push(`application ${app.id}: its user_key already opens another key (${owner.id}); not mirrored`);
    return true;
  }

  async #import(uow: UnitOfWork, service: ServiceSnapshot, app: ThreescaleApplication, consumerId: string, report: ReportBuilder): Promise<void> {
    const terms = this.#termsFor(service, app, report);
    if (terms === undefined || (await this.#clashes(uow, app.user_key!, undefined, app, report))) return;
    const pending = awaitsApproval(app);
    const origin = { provisioner: 'threescale', tenant: service.tenant, account_id: app.account_id, application_id: app.id, application: 'imported', ...(pending ? { approval: 'pending' } : {}) };
    const issued = await this.deps.lifecycle.create(
      uow,
      { consumerId, services: [service.serviceRowId], scopes: [], limits: [], name: app.name ?? service.mapping.service },
      {
        secret: app.user_key!,
        prefix: displayPrefix(app.user_key!),
        terms,
        origin,
        awaitingApproval: pending,
        record: (tx, keyId, now) =>
          insertLink(tx, { keyId, tenant: service.tenant, serviceId: service.mapping.serviceId, accountId: app.account_id, applicationId: app.id, planId: app.plan_id, state: linkStateOf(app.state) }, now),
      },
    );
    if (app.state === 'suspended') await this.deps.lifecycle.revoke(uow, issued.record.id, 'the 3scale application is suspended');
    report.add('imported', { key_id: issued.record.id, application_id: app.id, service: service.mapping.service });
  }

  async #sync(uow: UnitOfWork, snapshot: Snapshot, service: ServiceSnapshot, app: ThreescaleApplication, mirror: MirroredKey, report: ReportBuilder): Promise<void> {
    const item = { key_id: mirror.keyId, application_id: app.id, service: service.mapping.service };
    const { lifecycle } = this.deps;
    const origin = { provisioner: 'threescale', tenant: service.tenant, application_id: app.id };
    let revoked = mirror.revoked;
    const sent = snapshot.suspensionsSent.get(mirror.keyId);
    if (sent) report.add('suspensions_sent', sent);
    const pending = sent ? undefined : mirror.pending;

    if (app.state === 'suspended' && (!revoked || mirror.awaitingApproval)) {
      // a key awaiting approval becomes revoked for good: a later resume is 3scale's decision, reported as such
      await lifecycle.revoke(uow, mirror.keyId, 'the 3scale application was suspended', undefined, { origin });
      revoked = true;
      report.add('suspended', item);
    } else if (app.state === 'live' && mirror.awaitingApproval) {
      // accepted in 3scale: the key starts working, as it would have at once on a plan without approval
      await lifecycle.restore(uow, mirror.keyId, { origin: { ...origin, approval: 'accepted' } });
      revoked = false;
      report.add('approved', item);
    } else if (app.state === 'live' && revoked && mirror.state === 'suspended' && pending === undefined) {
      // suspended before (by Portcullis or in 3scale) and live again now: 3scale decided to let it in
      await lifecycle.restore(uow, mirror.keyId, { origin });
      revoked = false;
      report.add('resumed', item);
    }

    if (!revoked && app.user_key && this.deps.hasher.hash(app.user_key) !== mirror.currentHash && !(await this.#clashes(uow, app.user_key, mirror.keyId, app, report))) {
      await lifecycle.rotate(uow, mirror.keyId, 0, undefined, { secret: app.user_key, prefix: displayPrefix(app.user_key), origin });
      report.add('rotated', item);
    }

    const terms = service.terms.get(app.plan_id);
    if (terms !== undefined && !('problem' in terms) && (app.plan_id !== mirror.planId || terms.plan !== mirror.plan || !sameLimits(terms.limits, mirror.limits))) {
      await lifecycle.applyTerms(uow, mirror.keyId, terms);
      report.add('replanned', item);
    } else if (terms !== undefined && 'problem' in terms) {
      report.problems.push(`application ${app.id} (${service.mapping.service}): ${terms.problem}`);
    }

    const state = linkStateOf(app.state);
    if (state !== mirror.state || app.plan_id !== mirror.planId || sent) {
      await updateLink(uow.tx, mirror.keyId, { state, planId: app.plan_id, ...(sent ? { pending: null } : {}) }, uow.now);
    }
  }
}
