/**
 * Composition root of the control plane: `createControlPlane(config)` opens (and migrates) the database,
 * loads the pepper, bootstraps the first admin key, wires the credential resolvers, and builds the HTTP
 * app. Importing this module does nothing; the caller decides when and where to listen, so the same
 * factory serves `main.ts`, tests, and a one-process deployment next to the data plane.
 */
import type { Server } from 'node:http';
import type { Express } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { KeyHasher } from '../../authz-service/src/credentials/api-key/format.js';
import type { StateSpec } from '../../authz-service/src/state/schema.js';
import type { ReconcileReport } from './api/provisioners.js';
import { BOOTSTRAP_ACTOR, GATEWAY_ACTOR } from './auth/actor.js';
import { AuthStateCache } from './auth/auth-state.js';
import { Authenticator } from './auth/authenticator.js';
import { controlPlaneResolvers } from './auth/resolvers.js';
import { type ControlPlaneConfig, DEFAULT_SYNC_PORT, type SyncServerConfig } from './config.js';
import { openDatabase } from './db/connection.js';
import { migrateToLatest } from './db/migrations/index.js';
import { createApp } from './http/app.js';
import { healthRoutes } from './http/health.js';
import { createLogger } from './http/logger.js';
import { createMetrics, type HttpMetrics } from './http/observability.js';
import type { Route } from './http/route.js';
import { consumerRoutes } from './http/routes/consumers.js';
import { gatewayRoutes } from './http/routes/gateway.js';
import { issuerRoutes } from './http/routes/issuers.js';
import { keyRoutes } from './http/routes/keys.js';
import { meRoutes } from './http/routes/me.js';
import { operationRoutes } from './http/routes/operations.js';
import { provisionerRoutes } from './http/routes/provisioners.js';
import { planRoutes } from './http/routes/plans.js';
import { serviceRoutes } from './http/routes/services.js';
import { pepperSourceFor, type PepperSource } from './pepper-source.js';
import { KeyProvisioners } from './provisioning/router.js';
import { createThreescaleProvisioning } from './provisioning/threescale/index.js';
import { bootstrapFirstAdmin, type BootstrapResult } from './services/bootstrap.js';
import { ResponseVault } from './services/idempotency.js';
import { KeyLifecycle, type KeyHooks } from './services/keys.js';
import { RefusalCoalescer, type RefusalLimits } from './services/refusal-coalescer.js';
import { exportState } from './services/state-document.js';
import type { Clock } from './services/unit-of-work.js';
import { startSyncServer, type SyncServer, type SyncServerOptions } from './sync/server.js';

export const API_VERSION = '1.0.0';
export const DEFAULT_BODY_LIMIT_BYTES = 1024 * 1024;
export const DEFAULT_REQUEST_TIMEOUT_MS = 30_000;

export interface ControlPlaneOptions {
  readonly logger?: Logger;
  /** Epoch ms; injectable so key expiry and grace periods are testable. */
  readonly clock?: Clock;
  /** Where the one-time bootstrap admin key is shown; default: stdout. */
  readonly announce?: (message: string) => void;
  readonly pepperSource?: PepperSource;
  readonly keyHooks?: KeyHooks;
  readonly bodyLimitBytes?: number;
  readonly requestTimeoutMs?: number;
  /** Window and caller bound of the coalesced audit rows of failed and refused requests. */
  readonly refusalAudit?: RefusalLimits;
}

export interface ControlPlane {
  readonly app: Express;
  readonly db: Knex;
  /** The hasher every key is stored with; the data plane in the same process must use the same pepper. */
  readonly hasher: KeyHasher;
  readonly metrics: HttpMetrics;
  /** Audit rows of failed and refused requests; summaries of repeats are written by close() at the latest. */
  readonly refusals: RefusalCoalescer;
  readonly logger: Logger;
  readonly bootstrap: BootstrapResult;
  /** The state document, as served at GET /v1/state. */
  exportState(): Promise<StateSpec>;
  /** One 3scale reconciliation as the system actor (what the background job runs); present when configured. */
  readonly reconcileThreescale?: () => Promise<ReconcileReport>;
  /** Starts the HTTP server; port 0 picks a free one. */
  listen(port: number, host?: string): Promise<Server>;
  /**
   * Starts the state-sync gRPC server for data planes, on the configured port, host, token and TLS unless
   * overridden (port 0 picks a free one). Stopped by close().
   */
  serveSync(overrides?: SyncServeOptions): Promise<SyncServer>;
  /**
   * Stops accepting requests, lets running ones finish (up to a grace period), writes the pending summaries
   * of coalesced refusals, closes the database.
   */
  close(graceMs?: number): Promise<void>;
}

export type SyncServeOptions = Partial<SyncServerConfig> & Pick<SyncServerOptions, 'heartbeatMs' | 'feed' | 'snapshotPageSize'>;

function announceToStdout(message: string): void {
  process.stdout.write(`${message}\n`);
}

export async function createControlPlane(config: ControlPlaneConfig, options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const logger = options.logger ?? createLogger(config.logLevel);
  const clock = options.clock ?? Date.now;
  const db = await openDatabase(config.database);
  try {
    const applied = await migrateToLatest(db);
    if (applied.length > 0) logger.info({ migrations: applied }, 'database migrated');
    const pepperSource = options.pepperSource ?? pepperSourceFor(config, db);
    const pepper = await pepperSource.load();
    const hasher = new KeyHasher(pepper);
    const vault = new ResponseVault(pepper);
    pepper.fill(0);
    logger.info({ database: config.database.kind, pepper: pepperSource.description }, 'control plane storage ready');

    const threescale = config.threescale && config.secrets ? await createThreescaleProvisioning(config.threescale, config.secrets, db, logger, clock) : undefined;
    const lifecycle = new KeyLifecycle(hasher, new KeyProvisioners(threescale ? [threescale.provisioner] : []), options.keyHooks);
    const reconciliation = threescale?.reconciliation(lifecycle, hasher);
    const bootstrap: BootstrapResult = config.bootstrapAdminKey ? { created: false } : await bootstrapFirstAdmin(db, lifecycle, clock);
    if (bootstrap.created) {
      (options.announce ?? announceToStdout)(
        [
          'Portcullis: created the first admin API key. It is shown this once and cannot be recovered; store it now:',
          '',
          `    ${bootstrap.secret}`,
          '',
          `(key ${bootstrap.keyId}, consumer ${bootstrap.consumerId}; use it as "Authorization: Bearer <key>")`,
        ].join('\n'),
      );
    }

    const authStateCache = new AuthStateCache(db);
    const authenticator = new Authenticator({
      resolvers: controlPlaneResolvers(db, hasher, logger),
      authState: () => authStateCache.get(),
      hasher,
      staticTokens: [
        ...(config.bootstrapAdminKey ? [{ token: config.bootstrapAdminKey, actor: BOOTSTRAP_ACTOR }] : []),
        ...(config.gatewayToken ? [{ token: config.gatewayToken, actor: GATEWAY_ACTOR }] : []),
      ],
      adminRole: config.adminRole,
      clock,
    });
    const routes: Route[] = [
      ...healthRoutes(db),
      ...serviceRoutes(),
      ...planRoutes(),
      ...consumerRoutes(),
      ...issuerRoutes(),
      ...keyRoutes(lifecycle),
      ...operationRoutes(),
      ...gatewayRoutes(config.gateway),
      ...meRoutes(lifecycle),
      // only where 3scale is configured: elsewhere the endpoint does not exist (404)
      ...(reconciliation ? provisionerRoutes(reconciliation.reconciler) : []),
    ];
    const metrics = createMetrics();
    const refusals = new RefusalCoalescer({ db, clock, logger, counter: metrics.refused, ...options.refusalAudit });
    const app = createApp({
      routes,
      deps: { db, authenticator, vault, logger, clock, refusals },
      metrics,
      logger,
      bodyLimitBytes: options.bodyLimitBytes ?? DEFAULT_BODY_LIMIT_BYTES,
      requestTimeoutMs: options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS,
      version: API_VERSION,
    });

    reconciliation?.job.start();
    let server: Server | undefined;
    let sync: SyncServer | undefined;
    return {
      app,
      db,
      hasher,
      metrics,
      refusals,
      logger,
      bootstrap,
      exportState: () => exportState(db, clock()),
      ...(reconciliation ? { reconcileThreescale: reconciliation.run } : {}),
      listen: (port, host = '0.0.0.0') =>
        new Promise((resolve, reject) => {
          const s = app.listen(port, host, (error?: Error) => (error ? reject(error) : resolve(s)));
          s.requestTimeout = (options.requestTimeoutMs ?? DEFAULT_REQUEST_TIMEOUT_MS) + 5_000;
          s.headersTimeout = 20_000;
          server = s;
        }),
      async serveSync(overrides = {}) {
        if (sync && !sync.closed) throw new Error('the sync server is already running');
        const token = overrides.token ?? config.sync?.token;
        if (!token) throw new Error('the sync server needs a token (PORTCULLIS_SYNC_TOKEN)');
        const tls = overrides.tls ?? config.sync?.tls;
        sync = await startSyncServer({
          db,
          token,
          ...(tls !== undefined ? { tls } : {}),
          port: overrides.port ?? config.sync?.port ?? DEFAULT_SYNC_PORT,
          host: overrides.host ?? config.sync?.host ?? '0.0.0.0',
          logger,
          clock,
          ...(config.database.kind === 'postgres' ? { notifyUrl: config.database.url } : {}),
          ...(overrides.heartbeatMs !== undefined ? { heartbeatMs: overrides.heartbeatMs } : {}),
          ...(overrides.feed !== undefined ? { feed: overrides.feed } : {}),
          ...(overrides.snapshotPageSize !== undefined ? { snapshotPageSize: overrides.snapshotPageSize } : {}),
        });
        return sync;
      },
      async close(graceMs = 10_000) {
        await sync?.close();
        sync = undefined;
        if (server) {
          const s = server;
          server = undefined;
          const closed = new Promise<void>((resolve) => s.close(() => resolve()));
          s.closeIdleConnections();
          const timer = setTimeout(() => s.closeAllConnections(), graceMs);
          timer.unref();
          await closed;
          clearTimeout(timer);
        }
        await reconciliation?.job.stop();
        // after the server: no request can add a repeat any more, and before the database goes away
        await refusals.close();
        await db.destroy();
      },
    };
  } catch (error) {
    await db.destroy().catch(() => undefined);
    throw error;
  }
}
