/**
 * Prometheus metrics of the data plane, in a registry of our own (tests and embedders can run several).
 *
 * Labels are bounded by configuration only: outcome, catalog code, adapter, service name. Never a subject,
 * a key, a consumer or an IP: those would make every caller a time series.
 *
 * The decision counter and histogram are on the hot path and live in decision-series.ts as plain numbers;
 * everything else is rare (reloads, store errors) or read from its owner at scrape time.
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Adapter } from '../core/request.js';
import type { JwtResolverStats } from '../credentials/jwt/index.js';
import { DecisionSeries } from './decision-series.js';

/** allow, deny, or shadow: denied by policy but allowed because the service runs in shadow mode. */
export type DecisionOutcome = 'allow' | 'deny' | 'shadow';

/** Seconds: the hot path is tens of microseconds, dependency trouble is milliseconds to seconds. */
const DURATION_BUCKETS = [0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5];

export interface AuthzMetricsOptions {
  /** Process and Node.js runtime metrics (off in unit tests to keep the output small). */
  readonly defaultMetrics?: boolean;
  /** Clock for the state age gauge. */
  readonly now?: () => number;
}

/** What the metrics read from the JWT resolver's `stats()` at scrape time; it never touches prom-client. */
export type TokenVerifierStats = Pick<JwtResolverStats, 'cacheHits' | 'negativeCacheHits' | 'cacheMisses' | 'verifications' | 'jwksFetches' | 'jwksFetchFailures'>;

/** What the metrics read from the sync source at scrape time. */
export interface SyncStatus {
  readonly stalenessSeconds: number | undefined;
  readonly stale: boolean;
  readonly connected: boolean;
}

/** A counter whose value is owned elsewhere and copied in at scrape time. */
function pulledCounter<L extends string>(
  registry: Registry,
  name: string,
  help: string,
  labelNames: readonly L[],
  read: () => readonly (readonly [Partial<Record<L, string>>, number])[] | undefined,
): void {
  new Counter<L>({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      const values = read();
      if (values === undefined) return;
      this.reset();
      for (const [labels, value] of values) this.inc(labels, value);
    },
  });
}

export class AuthzMetrics {
  readonly registry = new Registry();
  readonly #decisions: DecisionSeries;
  #jwtStats: (() => TokenVerifierStats) | undefined;
  readonly #limiterErrors: Counter<'store'>;
  readonly #stateReloads: Counter<'outcome'>;
  readonly #stateRevision: Gauge;
  #stateLoadedAtMs: number | undefined;

  constructor(options: AuthzMetricsOptions = {}) {
    const registers = [this.registry];
    const now = options.now ?? Date.now;
    this.#decisions = new DecisionSeries(this.registry, {
      counter: 'portcullis_authz_decisions_total',
      counterHelp: 'Authorization decisions by outcome, reason (catalog code, "ok" for allows), adapter and service',
      histogram: 'portcullis_authz_decision_duration_seconds',
      histogramHelp: 'Time to decide, from normalised request to decision',
      buckets: DURATION_BUCKETS,
    });
    const jwt = () => this.#jwtStats?.();
    pulledCounter(this.registry, 'portcullis_authz_token_cache_lookups_total', 'Verified-token cache lookups by result (hit: no signature check needed)', ['result'], () => {
      const s = jwt();
      return s && [
        [{ result: 'hit' }, s.cacheHits],
        [{ result: 'negative_hit' }, s.negativeCacheHits],
        [{ result: 'miss' }, s.cacheMisses],
      ];
    });
    pulledCounter(this.registry, 'portcullis_authz_jwt_verifications_total', 'JWT signature verifications run', [], () => {
      const s = jwt();
      return s && [[{}, s.verifications]];
    });
    pulledCounter(this.registry, 'portcullis_authz_jwks_fetches_total', 'JWKS fetches by outcome', ['outcome'], () => {
      const s = jwt();
      return s && [
        [{ outcome: 'ok' }, s.jwksFetches - s.jwksFetchFailures],
        [{ outcome: 'error' }, s.jwksFetchFailures],
      ];
    });
    this.#limiterErrors = new Counter({
      name: 'portcullis_authz_limiter_store_errors_total',
      help: 'Rate-limit store failures (the route fail_mode then applies)',
      labelNames: ['store'],
      registers,
    });
    this.#stateReloads = new Counter({
      name: 'portcullis_authz_state_reloads_total',
      help: 'State loads by outcome; a rejected load keeps the previous state active',
      labelNames: ['outcome'],
      registers,
    });
    this.#stateRevision = new Gauge({
      name: 'portcullis_authz_state_revision',
      help: 'Revision of the active authorization state (0 for hand-written files)',
      registers,
    });
    const loadedAt = () => this.#stateLoadedAtMs;
    new Gauge({
      name: 'portcullis_authz_state_age_seconds',
      help: 'Seconds since the active authorization state was loaded',
      registers,
      collect() {
        const at = loadedAt();
        if (at !== undefined) this.set((now() - at) / 1000);
      },
    });
    const sync = () => this.#syncStatus?.();
    new Gauge({
      name: 'portcullis_authz_state_staleness_seconds',
      help: 'Sync mode: seconds since the control plane was last heard from (heartbeats come every few seconds)',
      registers,
      collect() {
        const seconds = sync()?.stalenessSeconds;
        if (seconds !== undefined) this.set(seconds);
      },
    });
    new Gauge({
      name: 'portcullis_authz_state_stale',
      help: 'Sync mode: 1 while the state is older than PORTCULLIS_MAX_STALENESS_SECONDS',
      registers,
      collect() {
        const status = sync();
        if (status !== undefined) this.set(status.stale ? 1 : 0);
      },
    });
    new Gauge({
      name: 'portcullis_authz_sync_connected',
      help: 'Sync mode: 1 while a stream from the control plane is up',
      registers,
      collect() {
        const status = sync();
        if (status !== undefined) this.set(status.connected ? 1 : 0);
      },
    });
    if (options.defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  #syncStatus: (() => SyncStatus) | undefined;

  /** Read the sync source's staleness and connection at every scrape. */
  observeSync(status: () => SyncStatus): void {
    this.#syncStatus = status;
  }

  /** Count and time one decision. Called once per request by every adapter. */
  recordDecision(adapter: Adapter, outcome: DecisionOutcome, reason: string, service: string, seconds: number): void {
    this.#decisions.record(adapter, outcome, reason, service, seconds);
  }

  /** Read token cache and JWKS counters from the JWT resolver at every scrape. */
  observeTokenVerifier(stats: () => TokenVerifierStats): void {
    this.#jwtStats = stats;
  }

  limiterStoreError(store: string): void {
    this.#limiterErrors.labels(store).inc();
  }

  stateLoaded(revision: number, loadedAtMs: number): void {
    this.#stateReloads.labels('ok').inc();
    this.#stateRevision.set(revision);
    this.#stateLoadedAtMs = loadedAtMs;
  }

  stateRejected(): void {
    this.#stateReloads.labels('rejected').inc();
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  async render(): Promise<string> {
    return this.registry.metrics();
  }
}
