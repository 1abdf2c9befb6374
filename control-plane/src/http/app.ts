/**
 * The express application: security headers, request ids, metrics and logs, timeouts, the documented
 * routes, and problem+json for everything that goes wrong, including routes that do not exist.
 */
import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import helmet from 'helmet';
import type { Logger } from 'pino';
import { ProblemError } from '../problem-error.js';
import { mountDocs, buildOpenApiDocument } from './openapi.js';
import { mountMetrics } from './health.js';
import { observeRequests, type HttpMetrics } from './observability.js';
import { sendProblem, toProblem } from './problem-response.js';
import { assignRequestId, requestState } from './request-state.js';
import { mountRoute, type Route, type RouteDeps } from './route.js';
import { requestTimeout } from './timeout.js';

export interface AppOptions {
  readonly routes: readonly Route[];
  readonly deps: Omit<RouteDeps, 'parseJson'>;
  readonly metrics: HttpMetrics;
  readonly logger: Logger;
  readonly bodyLimitBytes: number;
  readonly requestTimeoutMs: number;
  readonly version: string;
  /** Trust X-Forwarded-For from this many proxies when recording client addresses. */
  readonly trustProxy?: boolean | number | string;
}

export function createApp(options: AppOptions): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', options.trustProxy ?? 'loopback');
  // the default query parser keeps `a[b]=c` flat, so a filter is always a string or a list of strings
  app.set('query parser', 'simple');
  app.use(helmet());
  app.use(assignRequestId);
  app.use(observeRequests(options.metrics, options.logger));
  app.use(requestTimeout(options.requestTimeoutMs));

  const parseJson = express.json({ limit: options.bodyLimitBytes, strict: true, type: ['application/json', 'application/*+json'] });
  const deps: RouteDeps = { ...options.deps, parseJson };
  for (const route of options.routes) mountRoute(app, route, deps);
  mountMetrics(app, options.metrics);
  mountDocs(app, buildOpenApiDocument(options.routes, options.version));

  app.use((req: Request, res: Response) => {
    sendProblem(res, new ProblemError('not_found', `no endpoint ${req.method} ${req.path}`), requestState(req).id);
  });
  app.use((error: unknown, req: Request, res: Response, _next: NextFunction) => {
    sendProblem(res, toProblem(error, options.logger, requestState(req).id), requestState(req).id);
  });
  return app;
}
