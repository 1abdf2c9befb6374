/**
 * 3scale application plans as Portcullis sees them: which plan a new application gets, and the terms (Portcullis
 * plan and rate limits) a key mirrored from an application of a plan carries. 3scale limits are per
 * application, so they become the key's own limits: read from the plan's limits on the `hits` metric where
 * 3scale has them, else from the configured mapping. Read through a short cache; reconciliation refreshes it.
 */
import type { Logger } from 'pino';
import type { LimitSpec } from '../../../../authz-service/src/state/schema.js';
import { ProblemError } from '../../problem-error.js';
import type { KeyTerms } from '../provisioner.js';
import type { ThreescaleClient, ThreescaleLimit, ThreescalePlan } from './client.js';
import type { ThreescaleServiceConfig } from './config.js';

export const PLAN_CACHE_MS = 60_000;
/** 3scale periods as Portcullis windows; `eternity` has no window and is left out. */
const PERIOD_WINDOWS: Readonly<Record<string, string>> = { minute: '1m', hour: '1h', day: '1d', week: '7d', month: '30d', year: '365d' };
const MAX_KEY_LIMITS = 16;
const MAX_REQUESTS = 1_000_000_000;

interface ServicePlans {
  readonly plans: readonly ThreescalePlan[];
  readonly hitsMetricId?: string;
  readonly at: number;
}

/** The `hits` limits of a plan as key limits: one per window, the strictest when 3scale has several. */
export function limitsFromThreescale(limits: readonly ThreescaleLimit[], hitsMetricId: string | undefined, logger?: Logger): LimitSpec[] {
  const byWindow = new Map<string, number>();
  for (const limit of limits) {
    if (limit.metric_id !== hitsMetricId) continue;
    const window = PERIOD_WINDOWS[limit.period];
    if (window === undefined) continue;
    // 0 hits means "no calls" in 3scale; a key limit cannot say that, and silently dropping it would open access
    if (!Number.isInteger(limit.value) || limit.value < 1) {
      logger?.warn({ period: limit.period }, '3scale plan limit of 0 (or invalid) on hits cannot be mirrored; it is left out');
      continue;
    }
    const value = Math.min(limit.value, MAX_REQUESTS);
    byWindow.set(window, Math.min(byWindow.get(window) ?? value, value));
  }
  return [...byWindow.entries()].slice(0, MAX_KEY_LIMITS).map(([window, requests]) => ({ window, requests }));
}

export class PlanCatalog {
  readonly #services = new Map<string, ServicePlans>();
  readonly #limits = new Map<string, { limits: ThreescaleLimit[]; at: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly clock: () => number = Date.now,
    private readonly cacheMs = PLAN_CACHE_MS,
  ) {}

  /** Forget everything cached (start of a reconciliation). */
  refresh(): void {
    this.#services.clear();
    this.#limits.clear();
  }

  async #servicePlans(client: ThreescaleClient, mapping: ThreescaleServiceConfig): Promise<ServicePlans> {
    const key = `${client.tenant}#${mapping.serviceId}`;
    const cached = this.#services.get(key);
    if (cached && cached.at + this.cacheMs > this.clock()) return cached;
    const plans = await client.applicationPlans(mapping.serviceId);
    const hits = (await client.serviceMetrics(mapping.serviceId)).find((m) => m.system_name === 'hits');
    const entry: ServicePlans = { plans, ...(hits ? { hitsMetricId: hits.id } : {}), at: this.clock() };
    this.#services.set(key, entry);
    return entry;
  }

  /** The plan new applications of this service get: the configured one, else the service's default. */
  async applicationPlan(client: ThreescaleClient, mapping: ThreescaleServiceConfig): Promise<ThreescalePlan> {
    const { plans } = await this.#servicePlans(client, mapping);
    const wanted = mapping.applicationPlan;
    const plan =
      wanted !== undefined
        ? plans.find((p) => p.id === wanted || p.system_name === wanted)
        : (plans.find((p) => p.default === true) ?? plans.find((p) => p.state === 'published') ?? plans[0]);
    if (!plan) {
      throw new ProblemError(
        'upstream_provider_error',
        wanted !== undefined
          ? `3scale service ${mapping.serviceId} has no application plan "${wanted}" (services.${mapping.service}.application_plan)`
          : `3scale service ${mapping.serviceId} has no application plan to subscribe to`,
      );
    }
    return plan;
  }

  /** Portcullis plan and limits for a key mirrored from an application on `planId`. */
  async terms(client: ThreescaleClient, mapping: ThreescaleServiceConfig, planId: string): Promise<KeyTerms> {
    const { plans, hitsMetricId } = await this.#servicePlans(client, mapping);
    const plan = plans.find((p) => p.id === planId);
    const mapped = mapping.plans.get(planId) ?? (plan?.system_name ? mapping.plans.get(plan.system_name) : undefined);
    const fromThreescale = limitsFromThreescale(await this.#planLimits(client, planId), hitsMetricId, this.logger);
    const limits = fromThreescale.length > 0 ? fromThreescale : [...(mapped?.limits ?? [])];
    return { ...(mapped?.plan !== undefined ? { plan: mapped.plan } : {}), limits };
  }

  async #planLimits(client: ThreescaleClient, planId: string): Promise<ThreescaleLimit[]> {
    const key = `${client.tenant}#${planId}`;
    const cached = this.#limits.get(key);
    if (cached && cached.at + this.cacheMs > this.clock()) return cached.limits;
    const limits = await client.planLimits(planId);
    this.#limits.set(key, { limits, at: this.clock() });
    return limits;
  }
}
