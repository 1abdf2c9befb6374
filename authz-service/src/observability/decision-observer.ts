/**
 * The one place a decision becomes a metric sample and (for every deny, a sample of allows) a log line,
 * whichever adapter produced it. `observedEngine` wraps the decision core so both the HTTP and the gRPC
 * adapter get this without knowing about it; adapters call `observe` themselves only for denials they make
 * before the core runs (a request they cannot even parse).
 */
import type { Decision } from '../core/decision.js';
import type { DecisionEngine } from '../core/engine.js';
import { isPromise, type MaybePromise } from '../core/maybe-promise.js';
import type { NormalizedRequest } from '../core/request.js';
import type { Logger } from './logger.js';
import type { AuthzMetrics, DecisionOutcome } from './metrics.js';

/** What an adapter knows about a request it could not normalise. */
export interface RequestSummary {
  readonly adapter: NormalizedRequest['adapter'];
  readonly method: string;
  readonly host: string;
  readonly path: string;
  readonly clientIp: string;
}

export interface DecisionObserverOptions {
  readonly metrics: AuthzMetrics;
  readonly logger: Logger;
  /** Fraction of allows logged. */
  readonly allowSampleRate: number;
  /** Injected for tests. */
  readonly random?: () => number;
  /** Counts decisions for usage reports (sync mode); called once per decision, on the hot path. */
  readonly usage?: { record(decision: Decision): void };
}

export class DecisionObserver {
  readonly #metrics: AuthzMetrics;
  readonly #logger: Logger;
  readonly #sampleRate: number;
  readonly #random: () => number;
  readonly #usage: DecisionObserverOptions['usage'];

  constructor(options: DecisionObserverOptions) {
    this.#usage = options.usage;
    this.#metrics = options.metrics;
    this.#logger = options.logger;
    this.#sampleRate = options.allowSampleRate;
    this.#random = options.random ?? Math.random;
  }

  observe(request: RequestSummary, decision: Decision, seconds: number): void {
    const service = decision.route?.service ?? 'none';
    let outcome: DecisionOutcome;
    let reason: string;
    if (decision.kind === 'deny') {
      outcome = 'deny';
      reason = decision.code;
    } else if (decision.shadowDenial !== undefined) {
      outcome = 'shadow';
      reason = decision.shadowDenial;
    } else {
      outcome = 'allow';
      reason = 'ok';
    }
    this.#metrics.recordDecision(request.adapter, outcome, reason, service, seconds);
    this.#usage?.record(decision);
    if (outcome === 'allow' && (this.#sampleRate <= 0 || this.#random() >= this.#sampleRate)) return;
    const principal = decision.principal;
    this.#logger.info(
      {
        decision_id: decision.id,
        outcome,
        code: reason,
        ...(decision.kind === 'deny' ? { detail: decision.detail } : {}),
        adapter: request.adapter,
        service,
        route: decision.route?.route,
        method: request.method,
        host: request.host,
        path: request.path,
        client_ip: request.clientIp,
        ...(principal
          ? { auth_method: principal.authMethod, subject: principal.subject, consumer: principal.consumerId, key_id: principal.keyId }
          : {}),
        duration_ms: Math.round(seconds * 1e6) / 1000,
      },
      outcome === 'allow' ? 'allowed' : outcome === 'shadow' ? 'would deny (shadow mode)' : 'denied',
    );
  }
}

/** Decorate an engine so every decision it makes is counted, timed and logged. */
export function observedEngine(engine: DecisionEngine, observer: DecisionObserver): DecisionEngine {
  return {
    decide(request: NormalizedRequest): MaybePromise<Decision> {
      const started = performance.now();
      const decision = engine.decide(request);
      if (isPromise(decision)) {
        return decision.then((settled) => {
          observer.observe(request, settled, (performance.now() - started) / 1000);
          return settled;
        });
      }
      observer.observe(request, decision, (performance.now() - started) / 1000);
      return decision;
    },
  };
}
