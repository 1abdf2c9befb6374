/**
 * The declared objects checked against the API's own request schemas (the zod schemas the control plane
 * validates with), so that a file the server would refuse is refused whole, before anything is written,
 * and put in the shape the server stores: methods upper-cased, defaults inside routes and limits filled
 * in, the `upstream_url` shorthand as `upstream_urls`, a consumer's `subject` among its `subjects`. Only
 * top-level fields the file declares are kept, so defaults never overwrite what the file leaves out.
 */
import type { z } from 'zod';
import { ConsumerCreateSchema } from '../../control-plane/src/api/consumers.js';
import { PlanCreateSchema } from '../../control-plane/src/api/plans.js';
import { ServiceCreateSchema } from '../../control-plane/src/api/services.js';
import { CliError, ExitCode } from '../exit.js';
import type { Declared, Kind } from './document.js';

const CREATE_SCHEMAS: Readonly<Record<Kind, z.ZodType>> = {
  plan: PlanCreateSchema,
  service: ServiceCreateSchema,
  consumer: ConsumerCreateSchema,
};

export function normalizeAll(declared: readonly Declared[], source: string): Declared[] {
  const problems: string[] = [];
  const normalized: Declared[] = [];
  for (const d of declared) {
    const parsed = CREATE_SCHEMAS[d.spec.kind].safeParse(d.body);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) problems.push(`${d.spec.section}[${d.index}] (${d.spec.kind} ${d.key}) ${issue.path.join('.') || '(object)'}: ${issue.message}`);
      continue;
    }
    const output = parsed.data as Record<string, unknown>;
    const body: Record<string, unknown> = {};
    for (const field of Object.keys(d.body)) if (output[field] !== undefined) body[field] = output[field];
    normalized.push({ ...d, body: storedShape(d.spec.kind, body) });
  }
  if (problems.length > 0) {
    throw new CliError(ExitCode.Server, `${source} does not pass the API's validation; nothing was sent:\n  ${problems.join('\n  ')}`);
  }
  return normalized;
}

function storedShape(kind: Kind, body: Record<string, unknown>): Record<string, unknown> {
  if (kind === 'service' && body['upstream_url'] !== undefined) {
    const { upstream_url: url, ...rest } = body;
    return { ...rest, upstream_urls: [url] };
  }
  if (kind === 'consumer' && body['subject'] !== undefined) {
    const { subject, ...rest } = body;
    return { ...rest, subjects: [subject, ...(Array.isArray(body['subjects']) ? body['subjects'] : [])] };
  }
  return body;
}
