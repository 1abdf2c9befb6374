/**
 * Wiring of 3scale provisioning for the composition root: the provisioner (needed to build the key
 * lifecycle) first, then the reconciler and its job (which need the lifecycle).
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { KeyHasher } from '../../../../authz-service/src/credentials/api-key/format.js';
import type { ReconcileReport } from '../../api/provisioners.js';
import { SYSTEM_ACTOR } from '../../auth/actor.js';
import { createSecretStore } from '../../secrets/create-store.js';
import type { SecretsConfig } from '../../secrets/config.js';
import { KnexSecretRepository } from '../../secrets/knex-repository.js';
import type { KeyLifecycle } from '../../services/keys.js';
import { AccessTokens } from './access-token.js';
import type { ThreescaleConfig } from './config.js';
import { ReconcileJob } from './job.js';
import { PlanCatalog } from './plans.js';
import { ThreescaleProvisioner } from './provisioner.js';
import { ThreescaleReconciler } from './reconcile.js';
import { Tenants } from './tenants.js';

export interface ThreescaleProvisioning {
  readonly provisioner: ThreescaleProvisioner;
  /** Builds the reconciler and its (not yet started) job once the key lifecycle exists. */
  reconciliation(lifecycle: KeyLifecycle, hasher: KeyHasher): { readonly reconciler: ThreescaleReconciler; readonly job: ReconcileJob; run(): Promise<ReconcileReport> };
}

export async function createThreescaleProvisioning(
  config: ThreescaleConfig,
  secrets: SecretsConfig,
  db: Knex,
  logger: Logger,
  clock: () => number,
): Promise<ThreescaleProvisioning> {
  const tokens = new AccessTokens(createSecretStore(secrets, { repository: new KnexSecretRepository(db) }), clock);
  if (config.seedAccessToken !== undefined) {
    await tokens.put(config.seedSecretName, config.seedAccessToken.reveal());
    logger.info({ secret: config.seedSecretName }, 'sealed the 3scale access token from PORTCULLIS_THREESCALE_ACCESS_TOKEN into the secret store; it can be removed from the environment');
  }
  const tenants = new Tenants(config, tokens);
  const plans = new PlanCatalog(logger, clock);
  const provisioner = new ThreescaleProvisioner({ tenants, plans, logger, clock });
  return {
    provisioner,
    reconciliation(lifecycle, hasher) {
      const reconciler = new ThreescaleReconciler({ db, tenants, plans, provisioner, lifecycle, hasher, logger, clock });
      const run = () => reconciler.run({ actor: SYSTEM_ACTOR, requestId: `reconcile-${new Date(clock()).toISOString()}` });
      return { reconciler, job: new ReconcileJob(run, config.reconcileIntervalMs, logger), run };
    },
  };
}
