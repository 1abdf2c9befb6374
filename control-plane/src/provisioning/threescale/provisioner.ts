/**
 * Keys whose system of record is 3scale. A key is a 3scale application (user_key mode): its secret is the
 * application's `user_key`, mirrored into Portcullis as HMAC(user_key) and linked to the application id, so
 * the data plane verifies it locally. Revoking suspends the application, restoring resumes it, rotating
 * gives it a new user_key (3scale has no "regenerate": Portcullis chooses the value).
 *
 * An application on a plan that requires approval is created `pending`, and 3scale lets it in only once an
 * administrator accepts it: its key is issued inactive (awaiting approval) and reconciliation activates it
 * after the accept. Portcullis never accepts for 3scale, and refuses to restore such a key while it waits.
 *
 * Getting a user's key: their developer account (found by username or email, or signed up), the service's
 * application plan, then an application for the service: an existing one no key mirrors yet (signup
 * creates "API signup" applications) or a new one.
 *
 * Failure safety: everything here runs before the key's transaction. An application this call created is
 * deleted again if the transaction fails; if even that fails it is recorded as an orphan, which
 * reconciliation removes. Reused applications and signed-up accounts are left alone: the next attempt
 * finds and uses them.
 */
import type { Logger } from 'pino';
import { displayPrefix, generateApiKey } from '../../../../authz-service/src/credentials/api-key/format.js';
import { ProblemError, conflict } from '../../problem-error.js';
import { requireConsumer } from '../../services/references.js';
import { findConsumer } from '../../store/consumers.js';
import type { KeyRecord } from '../../store/keys.js';
import { findPlan } from '../../store/plans.js';
import type { Db } from '../../store/rows.js';
import { accountOf, findLink, insertLink, linkAccount, linkedApplications, linkStateOf, recordOrphan, updateLink, type ApplicationLink } from '../../store/threescale.js';
import { ExternalChange, noExternalChange } from '../external-change.js';
import type { ExternalProvisioner, IssueRequest, KeyEffect, KeyMaterial, KeyTerms } from '../provisioner.js';
import type { ThreescaleAccount, ThreescaleApplication, ThreescaleClient, ThreescalePlan } from './client.js';
import type { ThreescaleServiceConfig } from './config.js';
import { identityOf, throwawayPassword } from './identity.js';
import type { PlanCatalog } from './plans.js';
import type { Tenants } from './tenants.js';

export interface ThreescaleProvisionerDeps {
  readonly tenants: Tenants;
  readonly plans: PlanCatalog;
  readonly logger: Logger;
  readonly clock: () => number;
}

interface AccountWithApps {
  readonly account: ThreescaleAccount;
  readonly applications: readonly ThreescaleApplication[];
}

/**
 * The application a key may take: for the service, in user_key mode, no key's yet, and live or awaiting
 * approval (signup's "API signup" application on a plan that requires approval is the user's request for
 * access already; creating another would queue a second one). Live ones first, then the oldest.
 */
function reusable(apps: readonly ThreescaleApplication[], serviceId: string, linked: ReadonlySet<string>): ThreescaleApplication | undefined {
  const rank = (a: ThreescaleApplication) => (a.state === 'live' ? 0 : 1);
  return apps
    .filter((a) => a.service_id === serviceId && (a.state === 'live' || a.state === 'pending') && a.user_key && !linked.has(a.id))
    .sort((a, b) => rank(a) - rank(b) || Number(a.id) - Number(b.id))[0];
}

/** 3scale lets an application in only once it is accepted; until then a key for it must open nothing. */
export const awaitsApproval = (app: Pick<ThreescaleApplication, 'state'>): boolean => app.state === 'pending';

/** Where a mirrored key came from, for its audit row. */
function origin(tenant: string, app: ThreescaleApplication, extra: Record<string, string> = {}): Record<string, string> {
  return { provisioner: 'threescale', tenant, account_id: app.account_id, application_id: app.id, ...extra };
}

/**
 * Suspends or resumes; an application already in the wanted state is fine (3scale answers 422 for the
 * transition, so the state is checked then).
 */
export async function transition(client: ThreescaleClient, link: Pick<ApplicationLink, 'accountId' | 'applicationId'>, to: 'live' | 'suspended'): Promise<void> {
  try {
    if (to === 'suspended') await client.suspend(link.accountId, link.applicationId);
    else await client.resume(link.accountId, link.applicationId);
  } catch (error) {
    if (!(error instanceof ProblemError && error.code === 'validation_failed')) throw error;
    const app = await client.readApplication(link.accountId, link.applicationId);
    if (app?.state !== to) throw error;
  }
}

export class ThreescaleProvisioner implements ExternalProvisioner {
  readonly name = 'threescale' as const;
  readonly managedFields = ['services', 'plan', 'limits'] as const;

  constructor(private readonly deps: ThreescaleProvisionerDeps) {}

  handles(serviceName: string): boolean {
    return this.deps.tenants.forService(serviceName) !== undefined;
  }

  async owns(db: Db, keyId: string): Promise<boolean> {
    return (await findLink(db, keyId)) !== undefined;
  }

  /** The terms a key on this plan carries, with its Portcullis plan checked to exist. */
  async terms(db: Db, client: ThreescaleClient, mapping: ThreescaleServiceConfig, planId: string): Promise<KeyTerms> {
    const terms = await this.deps.plans.terms(client, mapping, planId);
    if (terms.plan !== undefined && !(await findPlan(db, terms.plan))) {
      throw conflict(`3scale plan ${planId} maps to the Portcullis plan "${terms.plan}", which does not exist; create it or fix the mapping`);
    }
    return terms;
  }

  async issue(db: Db, request: IssueRequest): Promise<ExternalChange<KeyMaterial>> {
    const service = request.services[0]!;
    const mapping = this.deps.tenants.forService(service.name)!;
    const client = this.deps.tenants.client(mapping);
    await requireConsumer(db, request.consumerId);
    const consumer = (await findConsumer(db, request.consumerId))!;

    const plan = await this.deps.plans.applicationPlan(client, mapping);
    const { account, applications } = await this.#accountOf(db, client, consumer, plan);
    const linked = await linkedApplications(db, client.tenant, applications.map((a) => a.id));
    let app = reusable(applications, mapping.serviceId, linked);
    const created = app === undefined;
    app ??= await client.createApplication(account.id, {
      plan_id: plan.id,
      name: request.name ?? service.name,
      description: `Portcullis key of ${consumer.name} for ${service.name}`,
    });
    const undo = created ? () => this.#removeUnconfirmed(db, client, app) : undefined;

    let terms: KeyTerms;
    try {
      if (!app.user_key) throw new ProblemError('upstream_provider_error', `3scale service ${mapping.serviceId} does not authenticate with user_key; only user_key services can be provisioned`);
      terms = await this.terms(db, client, mapping, app.plan_id);
    } catch (error) {
      await undo?.();
      throw error;
    }
    const userKey = app.user_key;
    const tenant = client.tenant;
    const pending = awaitsApproval(app);
    const material: KeyMaterial = {
      secret: userKey,
      prefix: displayPrefix(userKey),
      terms,
      awaitingApproval: pending,
      origin: origin(tenant, app, { application: created ? 'created' : 'reused', ...(pending ? { approval: 'pending' } : {}) }),
      record: async (tx, keyId, now) => {
        await linkAccount(tx, tenant, consumer.id, account.id, now);
        await insertLink(tx, { keyId, tenant, serviceId: mapping.serviceId, accountId: account.id, applicationId: app.id, planId: app.plan_id, state: linkStateOf(app.state) }, now);
      },
    };
    return new ExternalChange(material, undo, (error) => this.deps.logger.error({ err: error, application: app.id }, 'could not remove or record an unconfirmed 3scale application'));
  }

  /** The consumer's developer account and its applications: the linked one, else found, else signed up. */
  async #accountOf(db: Db, client: ThreescaleClient, consumer: { id: string; name: string }, plan: ThreescalePlan): Promise<AccountWithApps> {
    const linked = await accountOf(db, client.tenant, consumer.id);
    if (linked !== undefined) {
      const applications = await client.accountApplications(linked);
      // a stale link (the account was deleted in 3scale) falls through to find or sign up; the new key relinks
      if (applications !== undefined) return { account: { id: linked }, applications };
    }
    const identity = identityOf(consumer, this.deps.tenants.config.signupEmailDomain);
    let account = await client.findAccount({ username: identity.username });
    // username wins over email on the server, so the email is a second question, and only a real address
    if (account === undefined && identity.realEmail) account = await client.findAccount({ email: identity.email });
    if (account === undefined) {
      account = await client.signup({
        org_name: consumer.name,
        username: identity.username,
        email: identity.email,
        password: throwawayPassword(),
        application_plan_id: plan.id,
      });
      this.deps.logger.info({ tenant: client.tenant, account: account.id, consumer: consumer.id }, 'signed up a 3scale developer account');
    }
    const applications = await client.accountApplications(account.id);
    if (applications === undefined) throw new ProblemError('upstream_provider_error', `3scale account ${account.id} vanished while provisioning`);
    return { account, applications };
  }

  /** Undo of a creation: delete the application, or leave a note for reconciliation if 3scale will not. */
  async #removeUnconfirmed(db: Db, client: ThreescaleClient, app: ThreescaleApplication): Promise<void> {
    try {
      await client.deleteApplication(app.account_id, app.id);
    } catch (error) {
      this.deps.logger.warn({ tenant: client.tenant, application: app.id, err: error }, '3scale application created for a key that was not stored; recorded for reconciliation');
      await recordOrphan(db, { tenant: client.tenant, applicationId: app.id, accountId: app.account_id, reason: error instanceof Error ? error.message : 'delete failed' }, new Date(this.deps.clock()));
    }
  }

  async #linked(db: Db, keyId: string): Promise<{ link: ApplicationLink; mapping: ThreescaleServiceConfig; client: ThreescaleClient }> {
    const link = await findLink(db, keyId);
    if (!link) throw new ProblemError('internal_error', `key "${keyId}" has no 3scale link`);
    const mapping = this.deps.tenants.forLink(link);
    if (!mapping) throw conflict(`key "${keyId}" belongs to 3scale service ${link.serviceId} of ${link.tenant}, which is no longer configured`);
    return { link, mapping, client: this.deps.tenants.client(mapping) };
  }

  /**
   * The application of a link last seen pending, as 3scale has it now (it may have been accepted since);
   * refused while it still awaits approval. Portcullis' token could call accept, but approving is the 3scale
   * administrator's decision, never a side effect of restoring a key.
   */
  async #approved(client: ThreescaleClient, link: ApplicationLink, keyId: string): Promise<ThreescaleApplication> {
    const app = await client.readApplication(link.accountId, link.applicationId);
    if (!app) throw conflict(`the 3scale application of key "${keyId}" no longer exists; reconciliation will revoke the key`);
    if (awaitsApproval(app)) {
      throw conflict(`the 3scale application of key "${keyId}" awaits approval in 3scale; the key becomes active by itself once a 3scale administrator accepts it`);
    }
    return app;
  }

  /** A new user_key chosen here; the old one stays valid in Portcullis' mirror for the grace period. */
  async reissue(db: Db, key: KeyRecord): Promise<ExternalChange<KeyMaterial>> {
    const { link, client } = await this.#linked(db, key.id);
    if (link.state === 'deleted') throw conflict(`the 3scale application of key "${key.id}" was deleted; this key cannot be rotated`);
    const before = await client.readApplication(link.accountId, link.applicationId);
    if (!before) throw conflict(`the 3scale application of key "${key.id}" no longer exists; reconciliation will revoke the key`);
    const fresh = generateApiKey();
    const after = await client.changeUserKey(link.accountId, link.applicationId, fresh.key);
    const undo = async () => {
      // put the old value back, unless someone changed it again meanwhile
      const now = await client.readApplication(link.accountId, link.applicationId);
      if (now?.user_key === fresh.key && before.user_key) await client.changeUserKey(link.accountId, link.applicationId, before.user_key);
    };
    return new ExternalChange<KeyMaterial>(
      {
        secret: fresh.key,
        prefix: fresh.displayPrefix,
        origin: origin(client.tenant, after),
        record: (tx, keyId, now) => updateLink(tx, keyId, {}, now),
      },
      undo,
      (error) => this.deps.logger.error({ err: error, application: link.applicationId }, 'could not put back the user_key of a rotation that was not stored; reconciliation will follow 3scale'),
    );
  }

  /**
   * Suspends the application. Revocation must work when 3scale is down: the key is revoked in Portcullis
   * (which is what enforces it) and the suspension is left pending for reconciliation.
   */
  async suspend(db: Db, key: KeyRecord): Promise<ExternalChange<KeyEffect>> {
    const { link, client } = await this.#linked(db, key.id);
    if (link.state === 'deleted' || link.state === 'suspended') return noExternalChange({ record: (tx, keyId, now) => updateLink(tx, keyId, { pending: null }, now) });
    let suspended = false;
    try {
      await transition(client, link, 'suspended');
      suspended = true;
    } catch (error) {
      this.deps.logger.warn({ tenant: link.tenant, application: link.applicationId, err: error }, '3scale did not confirm a suspension; left for reconciliation');
    }
    const effect: KeyEffect = {
      origin: { provisioner: 'threescale', tenant: link.tenant, application_id: link.applicationId, suspension: suspended ? 'done' : 'pending' },
      record: (tx, keyId, now) => updateLink(tx, keyId, suspended ? { state: 'suspended', pending: null } : { pending: 'suspend' }, now),
    };
    return new ExternalChange(effect, suspended ? () => transition(client, link, 'live') : undefined, (error) =>
      this.deps.logger.error({ err: error, application: link.applicationId }, 'could not resume a 3scale application whose revocation was not stored'),
    );
  }

  async resume(db: Db, key: KeyRecord): Promise<ExternalChange<KeyEffect>> {
    const { link, client } = await this.#linked(db, key.id);
    if (link.state === 'deleted') throw conflict(`the 3scale application of key "${key.id}" was deleted; this key cannot be restored`);
    const effect: KeyEffect = {
      origin: { provisioner: 'threescale', tenant: link.tenant, application_id: link.applicationId },
      record: (tx, keyId, now) => updateLink(tx, keyId, { state: 'live', pending: null }, now),
    };
    // only a 3scale administrator's accept lets a pending application in; restoring here must not go around it.
    // Accepted since: live already, so nothing to resume there (and nothing to suspend again on undo).
    if (link.state === 'pending' && (await this.#approved(client, link, key.id)).state === 'live') return noExternalChange(effect);
    // a suspension that never reached 3scale has nothing to undo there
    if (link.pending === 'suspend') return noExternalChange(effect);
    await transition(client, link, 'live');
    return new ExternalChange(effect, () => transition(client, link, 'suspended'), (error) =>
      this.deps.logger.error({ err: error, application: link.applicationId }, 'could not suspend again a 3scale application whose restoration was not stored'),
    );
  }
}
