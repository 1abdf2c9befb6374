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

export interface StartOptions {
  /** Where logs go; default stdout. */
  readonly logDestination?: DestinationStream;
  /** Process and runtime metrics; default true (tests turn them off). */
  readonly defaultMetrics?: boolean;
  /** Reload the state file on SIGHUP; default false (the process entry point turns it on). */
  readonly reloadOnSighup?: boolean;
  /** Watch the state file for changes; default true. */
  readonly watchStateFile?: boolean;
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
  readonly store: StateStore;
  readonly metrics: AuthzMetrics;
  readonly logger: Logger;
  /** Re-read the state file now (what SIGHUP does); undefined without a state file. */
  reload(): Promise<ReloadOutcome | undefined>;
  /** Graceful stop: HTTP drained, watchers and limiter connections closed. Idempotent. */
  close(): Promise<void>;
}

/** Startup refused: every reason, ready to print. */
export class AuthzStartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`the authz-service cannot start:\n  ${problems.join('\n  ')}`);
    this.name = 'AuthzStartupError';
  }
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
  return state.spec.keys.length;
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
    if (config.keyPepper) resolvers.push(new ApiKeyResolver({ hasher: new KeyHasher(config.keyPepper.reveal()) }));
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
      logger.info(
        { source: next.source, revision: next.state.revision, previous_revision: previous?.state.revision, services: next.state.services.size, keys: keyCount(next.state) },
        'authorization state loaded',
      );
      if (!config.keyPepper && keyCount(next.state) > 0) {
        logger.error({ keys: keyCount(next.state) }, 'the state has API keys but PORTCULLIS_KEY_PEPPER is not set: API keys cannot be verified');
      }
      // fetch issuers' keys now, so the first requests with tokens do not wait for JWKS
      void jwt.prefetch(next.state.issuers).then((failed) => {
        if (failed.length > 0) logger.warn({ issuers: failed }, 'could not prefetch signing keys of some issuers; will retry on demand');
      });
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
    } else {
      logger.warn('no PORTCULLIS_STATE_FILE: not ready until a state is loaded');
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
    const observer = new DecisionObserver({ metrics, logger, allowSampleRate: config.allowLogSampleRate });
    const engine = observedEngine(
      createDecisionEngine({
        state: () => store.current(),
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
      ready: () => store.ready,
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
        identityHeaders: config.identityHeaders,
        shutdownGraceMs: config.shutdownGraceMs,
        logger,
        observer,
      });
      closers.push(() => extAuthz!.close());
    }
    logger.info(
      { http: `${httpAddress.address}:${httpAddress.port}`, ext_authz: extAuthz ? extAuthz.port : 'off', limiter: limiter.kind, state_file: config.stateFile },
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
      store,
      metrics,
      logger,
      reload: async () => source?.reload(),
      close: () => {
        closing ??= closeAll().then(async () => {
          logger.info('authz-service stopped');
          await new Promise<void>((resolve) => logger.flush(() => resolve()));
        });
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
