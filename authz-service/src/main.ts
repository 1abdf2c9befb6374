/**
 * Composition root of the authz-service: config → state source → credential resolvers → rate limiter(s) →
 * decision engine → HTTP adapter (Traefik, nginx) and ext_authz gRPC adapter (Envoy) → metrics and logs. Everything is built and wired here, once; the modules
 * themselves know only their interfaces.
 *
 * `startAuthzService(config)` returns handles so tests run the real service in-process; running this file
 * parses the environment, starts the service and turns SIGTERM/SIGINT into a graceful stop.
 */
import type { AddressInfo } from 'node:net';
import { pathToFileURL } from 'node:url';
import type { DestinationStream } from 'pino';
import { type AuthzConfig, parseAuthzConfig } from './config.js';
import type { DecisionEngine } from './core/engine.js';
import { createDecisionEngine } from './core/pipeline.js';
import { KeyHasher } from './credentials/api-key/format.js';
import { ApiKeyResolver } from './credentials/api-key/resolver.js';
import { JwtResolver } from './credentials/jwt/index.js';
import type { CredentialResolver } from './credentials/resolver.js';
import { type ExtAuthzServer, startExtAuthzServer } from './grpc/server.js';
import { tlsMode } from './grpc/tls.js';
import { AuthzHttpServer } from './http/server.js';
import { TrustedProxies } from './http/trusted-proxies.js';
import type { RateLimiter } from './limits/limiter.js';
import { MemoryRateLimiter } from './limits/memory-limiter.js';
import { createRedisClient, redactRedisUrl } from './limits/redis-client.js';
import { RedisRateLimiter } from './limits/redis-limiter.js';
import { DecisionObserver, observedEngine } from './observability/decision-observer.js';
import { createLogger, type Logger } from './observability/logger.js';
import { AuthzMetrics } from './observability/metrics.js';
import type { CompiledState } from './state/compile.js';
import { FileStateSource, type ReloadOutcome } from './state/file-source.js';
import { StateStore } from './state/store.js';
import { STATE_SOURCE_NAME, SyncStateSource, type SyncTuning } from './sync/sync-source.js';
import { UsageCounter } from './sync/usage-counter.js';
import { UsageReporter } from './sync/usage-reporter.js';

export interface StartOptions {
  /** Where logs go; default stdout. */
  readonly logDestination?: DestinationStream;
  /** Process and runtime metrics; default true (tests turn them off). */
  readonly defaultMetrics?: boolean;
  /** Reload the state file on SIGHUP; default false (the process entry point turns it on). */
  readonly reloadOnSighup?: boolean;
  /** Watch the state file for changes; default true. */
  readonly watchStateFile?: boolean;
  /**
   * Hash API keys with this hasher instead of one made from PORTCULLIS_KEY_PEPPER: the one-process embedded
   * start hands over the control plane's, so the pepper is never copied around.
   */
  readonly keyHasher?: KeyHasher;
  /** Sync mode's timings (tests shorten them). */
  readonly syncTuning?: SyncTuning;
}

export interface AuthzServiceHandles {
  readonly config: AuthzConfig;
  /** Where the HTTP adapter listens (port 0 in the config picks a free one). */
  readonly httpAddress: AddressInfo;
  readonly http: AuthzHttpServer;
  /** The Envoy ext_authz server; undefined when PORTCULLIS_EXT_AUTHZ_PORT=off. */
  readonly extAuthz?: ExtAuthzServer;
  /** The decision engine as the adapters see it (counted, timed, logged). */
  readonly engine: DecisionEngine;
  /** Sync mode's state source; undefined in file mode. */
  readonly sync?: SyncStateSource;
  /** Sync mode: sends what was counted so far (what the timer does every PORTCULLIS_USAGE_FLUSH_SECONDS). */
  flushUsage(): Promise<void>;
  readonly store: StateStore;
  readonly metrics: AuthzMetrics;
  readonly logger: Logger;
  /** Re-read the state file now (what SIGHUP does); undefined without a state file. */
  reload(): Promise<ReloadOutcome | undefined>;
  /**
   * Graceful stop: unready (/readyz 503, gRPC health NOT_SERVING) and closing connections after each answer
   * for PORTCULLIS_SHUTDOWN_DRAIN_MS, then HTTP and gRPC drained, watchers and limiter connections closed.
   * Idempotent.
   */
  close(): Promise<void>;
}

/** Startup refused: every reason, ready to print. */
export class AuthzStartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the authz-service cannot start:\n  ${problems.join('\n  ')}`);
    this.name = 'AuthzStartupError';
  }
}

/** What /readyz adds to its status: where the state stands, and in sync mode how stale it is. */
function readiness(store: StateStore, staleness: SyncStateSource['staleness'] | undefined): Record<string, unknown> {
  const snapshot = store.snapshot;
  const detail: Record<string, unknown> = snapshot ? { revision: snapshot.state.revision, source: snapshot.source } : {};
  if (staleness) {
    const seconds = staleness.seconds();
    detail['staleness_seconds'] = seconds === undefined ? null : Math.round(seconds * 10) / 10;
    detail['max_staleness_seconds'] = staleness.maxSeconds;
    detail['stale'] = staleness.isStale();
    detail['stale_mode'] = staleness.mode;
    if (snapshot && staleness.refuses()) detail['reason'] = 'the state is older than PORTCULLIS_MAX_STALENESS_SECONDS and PORTCULLIS_STALE_MODE=refuse';
  }
  return detail;
}

/** Logs the first failure of a kind at once, then at most one summary line per interval. */
function throttledWarning(logger: Logger, message: string, intervalMs = 10_000): (fields: Record<string, unknown>) => void {
  let last = 0;
  let suppressed = 0;
  return (fields) => {
    const now = Date.now();
    if (now - last < intervalMs) {
      suppressed++;
      return;
    }
    logger.warn({ ...fields, suppressed }, message);
    last = now;
    suppressed = 0;
  };
}

function keyCount(state: CompiledState): number {
  return state.keyCount;
}

export async function startAuthzService(config: AuthzConfig, options: StartOptions = {}): Promise<AuthzServiceHandles> {
  const logger = createLogger({ level: config.logLevel, ...(options.logDestination ? { destination: options.logDestination } : {}) });
  const metrics = new AuthzMetrics({ defaultMetrics: options.defaultMetrics ?? true });
  const closers: (() => Promise<void> | void)[] = [];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) {
      try {
        await close();
      } catch (error) {
        logger.warn({ err: error }, 'error while shutting down');
      }
    }
  };

  try {
    // ── credential resolvers ───────────────────────────────────────────────────
    const resolvers: CredentialResolver[] = [];
    const hasher = options.keyHasher ?? (config.keyPepper ? new KeyHasher(config.keyPepper.reveal()) : undefined);
    if (hasher) resolvers.push(new ApiKeyResolver({ hasher }));
    const jwtFetchFailed = throttledWarning(logger, 'fetching issuer keys failed');
    const jwt = new JwtResolver({
      onEvent: (event) => {
        if (!event.ok) jwtFetchFailed({ issuer: event.issuer, fetch: event.type, reason: event.reason });
      },
    });
    resolvers.push(jwt);
    metrics.observeTokenVerifier(() => jwt.stats());

    // ── state ──────────────────────────────────────────────────────────────────
    const store = new StateStore();
    store.onSwap((next, previous) => {
      metrics.stateLoaded(next.state.revision, next.loadedAtMs);
      // a synced replica swaps on every delta: those lines are for debugging, snapshots are worth a line each
      const delta = next.source === STATE_SOURCE_NAME && previous?.source === STATE_SOURCE_NAME && next.state.catalog === previous.state.catalog;
      logger[delta ? 'debug' : 'info'](
        { source: next.source, revision: next.state.revision, previous_revision: previous?.state.revision, services: next.state.services.size, keys: keyCount(next.state) },
        'authorization state loaded',
      );
      if (!hasher && keyCount(next.state) > 0) {
        logger.error({ keys: keyCount(next.state) }, 'the state has API keys but PORTCULLIS_KEY_PEPPER is not set: API keys cannot be verified');
      }
      // fetch issuers' keys now, so the first requests with tokens do not wait for JWKS (not again for a key delta)
      if (next.state.issuers !== previous?.state.issuers) {
        void jwt.prefetch(next.state.issuers).then((failed) => {
          if (failed.length > 0) logger.warn({ issuers: failed }, 'could not prefetch signing keys of some issuers; will retry on demand');
        });
      }
    });
    let source: FileStateSource | undefined;
    if (config.stateFile) {
      source = new FileStateSource({
        path: config.stateFile,
        store,
        onReload: (outcome) => {
          if (outcome.kind !== 'rejected') return;
          metrics.stateRejected();
          logger.error({ path: config.stateFile, errors: outcome.errors, kept_previous: outcome.keptPrevious }, 'state file rejected');
        },
      });
      const first = await source.reload();
      if (first.kind === 'rejected') throw new AuthzStartupError(first.errors.map((e) => `${config.stateFile}: ${e}`));
      const initial = store.current()!;
      if (!config.keyPepper && keyCount(initial) > 0) {
        throw new AuthzStartupError([`the state has ${keyCount(initial)} API key(s) but PORTCULLIS_KEY_PEPPER (or _FILE) is not set`]);
      }
      if (options.watchStateFile ?? true) source.watch();
      closers.push(() => source!.close());
    } else if (!config.sync) {
      logger.warn('neither PORTCULLIS_STATE_FILE nor PORTCULLIS_SYNC_TARGET: not ready until a state is loaded');
    }
    let sync: SyncStateSource | undefined;
    let usage: { counter: UsageCounter; reporter: UsageReporter } | undefined;
    if (config.sync) {
      const syncConfig = config.sync;
      sync = new SyncStateSource({
        config: syncConfig,
        store,
        logger,
        onRejected: () => metrics.stateRejected(),
        ...(options.syncTuning ? { tuning: options.syncTuning } : {}),
      });
      const source = sync;
      metrics.observeSync(() => ({ stalenessSeconds: source.staleness.seconds(), stale: source.staleness.isStale(), connected: source.connected }));
      await sync.start();
      closers.push(() => source.close());
      const counter = new UsageCounter();
      const reporter = new UsageReporter({
        counter,
        send: (batch) => source.reportUsage(batch),
        replicaId: syncConfig.replicaId,
        intervalMs: syncConfig.usageFlushSeconds * 1000,
        logger,
      });
      reporter.start();
      // registered after the source's closer, so it runs first: the last counts leave while the channel is up
      closers.push(() => reporter.close());
      usage = { counter, reporter };
    }

    // ── rate limiters ──────────────────────────────────────────────────────────
    let limiter: RateLimiter;
    let insurance: RateLimiter | undefined;
    if (config.redisUrl) {
      const url = config.redisUrl.reveal();
      const storeFailed = throttledWarning(logger, 'rate-limit store error; fail_mode applies');
      limiter = new RedisRateLimiter({
        client: createRedisClient(url),
        onStoreError: (origin, reason) => {
          metrics.limiterStoreError('redis');
          storeFailed({ redis: redactRedisUrl(url), origin, reason });
        },
      });
      // per-replica limits for fail_mode=open services while Redis is away
      insurance = new MemoryRateLimiter();
      closers.push(() => insurance!.close());
    } else {
      limiter = new MemoryRateLimiter();
    }
    closers.push(() => limiter.close());

    // ── decision engine and adapters ───────────────────────────────────────────
    const observer = new DecisionObserver({ metrics, logger, allowSampleRate: config.allowLogSampleRate, ...(usage ? { usage: usage.counter } : {}) });
    const staleness = sync?.staleness;
    const engine = observedEngine(
      createDecisionEngine({
        state: () => store.current(),
        ...(staleness ? { stateIsStale: () => staleness.refuses() } : {}),
        resolvers,
        limiter,
        ...(insurance ? { insurance } : {}),
        identityHeaders: config.identityHeaders,
        onInternalError: (error, decisionId) => logger.error({ err: error, decision_id: decisionId }, 'decision failed unexpectedly'),
      }),
      observer,
    );
    const http = new AuthzHttpServer({
      engine,
      trustedProxies: new TrustedProxies(config.trustedProxies),
      observer,
      metrics,
      logger,
      identityHeaders: config.identityHeaders,
      ready: () => store.ready && !(staleness?.refuses() ?? false),
      readinessDetail: () => readiness(store, staleness),
      maxHeaderBytes: config.maxHeaderBytes,
    });
    const httpAddress = await http.listen(config.port, config.host);
    closers.push(() => http.close(config.shutdownGraceMs));
    let extAuthz: ExtAuthzServer | undefined;
    if (config.extAuthz.enabled) {
      extAuthz = await startExtAuthzServer({
        engine,
        port: config.extAuthz.port,
        host: config.extAuthz.host,
        ...(config.extAuthz.tls !== undefined ? { tls: config.extAuthz.tls } : {}),
        identityHeaders: config.identityHeaders,
        shutdownGraceMs: config.shutdownGraceMs,
        logger,
        observer,
      });
      closers.push(() => extAuthz!.close());
    }
    logger.info(
      {
        http: `${httpAddress.address}:${httpAddress.port}`,
        ext_authz: extAuthz ? extAuthz.port : 'off',
        ...(config.extAuthz.enabled ? { ext_authz_transport: tlsMode(config.extAuthz.tls) } : {}),
        ...(config.sync ? { sync_transport: tlsMode(config.sync.tls) } : {}),
        limiter: limiter.kind,
        state: config.sync ? `sync from ${config.sync.target}` : (config.stateFile ?? 'none'),
      },
      'authz-service listening',
    );

    if (options.reloadOnSighup && source) {
      const onHup = () => void source!.reload();
      process.on('SIGHUP', onHup);
      closers.push(() => void process.off('SIGHUP', onHup));
    }

    let closing: Promise<void> | undefined;
    return {
      config,
      httpAddress,
      http,
      ...(extAuthz ? { extAuthz } : {}),
      engine,
      ...(sync ? { sync } : {}),
      flushUsage: async () => usage?.reporter.flush(),
      store,
      metrics,
      logger,
      reload: async () => source?.reload(),
      close: () => {
        closing ??= (async () => {
          // unready everywhere first, while still answering: nothing in flight or about to arrive is dropped
          http.startDraining();
          extAuthz?.health.set('NOT_SERVING');
          if (config.shutdownDrainMs > 0) await new Promise((resolve) => setTimeout(resolve, config.shutdownDrainMs));
          await closeAll();
          logger.info('authz-service stopped');
          await new Promise<void>((resolve) => logger.flush(() => resolve()));
        })();
        return closing;
      },
    };
  } catch (error) {
    await closeAll();
    logger.flush();
    throw error;
  }
}

/** Process entry point: environment → config → service; SIGTERM/SIGINT drain and exit. */
async function run(): Promise<void> {
  const parsed = parseAuthzConfig(process.env);
  if (!parsed.ok) {
    process.stderr.write(`invalid configuration:\n  ${parsed.errors.join('\n  ')}\n`);
    process.exitCode = 2;
    return;
  }
  let service: AuthzServiceHandles;
  try {
    service = await startAuthzService(parsed.config, { reloadOnSighup: true });
  } catch (error) {
    process.stderr.write(`${error instanceof AuthzStartupError ? error.message : `startup failed: ${(error as Error).message}`}\n`);
    process.exitCode = 1;
    return;
  }
  const stop = (signal: string) => {
    service.logger.info({ signal }, 'shutting down');
    void service.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void run();
