/** Liveness, readiness and metrics endpoints (unauthenticated, as probes and scrapers expect). */
import type { Express } from 'express';
import type { Knex } from 'knex';
import { z } from 'zod';
import { schemaIsCurrent } from '../db/migrations/index.js';
import type { HttpMetrics } from './observability.js';
import { query, type Route } from './route.js';

const HealthSchema = z.object({ status: z.enum(['ok', 'unavailable']), checks: z.record(z.string(), z.string()).optional() }).meta({ id: 'Health' });

export function healthRoutes(db: Knex): Route[] {
  return [
    query({
      operationId: 'healthz',
      method: 'get',
      path: '/healthz',
      summary: 'Liveness: the process answers',
      tag: 'operations',
      access: 'public',
      success: { status: 200, description: 'Alive', schema: HealthSchema },
      handler: async () => ({ body: { status: 'ok' } }),
    }),
    query({
      operationId: 'readyz',
      method: 'get',
      path: '/readyz',
      summary: 'Readiness: the database answers and its schema is current',
      tag: 'operations',
      access: 'public',
      success: { status: 200, description: 'Ready', schema: HealthSchema },
      alsoSucceeds: [{ status: 503, description: 'Not ready, with the failing check', schema: HealthSchema }],
      handler: async () => {
        try {
          await db.raw('select 1');
          if (!(await schemaIsCurrent(db))) return { status: 503, body: { status: 'unavailable', checks: { database: 'migrations pending' } } };
          return { body: { status: 'ok', checks: { database: 'ok' } } };
        } catch {
          return { status: 503, body: { status: 'unavailable', checks: { database: 'unreachable' } } };
        }
      },
    }),
  ];
}

export function mountMetrics(app: Express, metrics: HttpMetrics): void {
  app.get('/metrics', async (_req, res) => {
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  });
}
