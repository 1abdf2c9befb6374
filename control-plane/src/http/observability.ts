/** Prometheus metrics and one structured log line per request. Labels are route templates, never ids. */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Logger } from 'pino';
import { collectDefaultMetrics, Counter, Histogram, Registry } from 'prom-client';
import { requestState } from './request-state.js';

export interface HttpMetrics {
  readonly registry: Registry;
  readonly requests: Counter<'method' | 'route' | 'status'>;
  readonly duration: Histogram<'method' | 'route'>;
  /** Failed and refused requests the audit trail records, each one, also those coalesced into a summary row. */
  readonly refused: Counter<'action' | 'status' | 'code'>;
}

/** A registry of its own, so several control planes (tests, one-process mode) never collide. */
export function createMetrics(): HttpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'portcullis_control_plane_' });
  return {
    registry,
    requests: new Counter({
      name: 'portcullis_control_plane_http_requests_total',
      help: 'Control-plane HTTP requests by route template and status',
      labelNames: ['method', 'route', 'status'],
      registers: [registry],
    }),
    duration: new Histogram({
      name: 'portcullis_control_plane_http_request_duration_seconds',
      help: 'Control-plane HTTP request duration',
      labelNames: ['method', 'route'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers: [registry],
    }),
    // no caller, address or resource in the labels: they would make the series as many as the attackers
    refused: new Counter({
      name: 'portcullis_control_plane_refused_requests_total',
      help: 'Control-plane requests refused (401/403) or failed mutations, by operation, status and problem code, counted before audit coalescing',
      labelNames: ['action', 'status', 'code'],
      registers: [registry],
    }),
  };
}

export function observeRequests(metrics: HttpMetrics, logger: Logger): RequestHandler {
  return (req: Request, res: Response, next: NextFunction) => {
    const state = requestState(req);
    res.on('finish', () => {
      const seconds = Number(process.hrtime.bigint() - state.startedAt) / 1e9;
      const route = state.route ?? 'unmatched';
      metrics.requests.inc({ method: req.method, route, status: String(res.statusCode) });
      metrics.duration.observe({ method: req.method, route }, seconds);
      logger.info(
        {
          requestId: state.id,
          method: req.method,
          route,
          // the path only: no query string, which is where a careless client might put a key
          path: req.path,
          status: res.statusCode,
          ms: Math.round(seconds * 1000),
          actor: state.actorId,
          ip: req.ip,
        },
        'request',
      );
    });
    next();
  };
}
