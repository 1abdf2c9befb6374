/**
 * Pieces every resource's API contract uses: references by name or id, pagination, timestamps and the
 * problem document. These zod schemas validate requests and generate the OpenAPI document, so the two
 * cannot drift apart.
 */
import { z } from 'zod';
import { ERROR_CATALOG, type ErrorCode } from '../../../authz-service/src/core/errors.js';

/** A resource named by its slug or by its id (ids contain "_", slugs cannot). */
export const resourceRef = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[A-Za-z0-9][A-Za-z0-9._:@-]*$/, 'must be a name or an id');

export const idParam = z.strictObject({ id: resourceRef });

export const isoTimestamp = z.iso.datetime({ offset: true });
export const isoDay = z.iso.date();

export const timestamps = {
  created_at: isoTimestamp,
  updated_at: isoTimestamp,
};

export const MAX_PAGE_SIZE = 200;
export const DEFAULT_PAGE_SIZE = 50;

export const paginationQuery = {
  limit: z.coerce.number().int().min(1).max(MAX_PAGE_SIZE).default(DEFAULT_PAGE_SIZE),
  /** Opaque; copy `next_cursor` from the previous page. */
  cursor: z.string().min(1).max(256).optional(),
};

export const booleanQuery = z.enum(['true', 'false']).transform((v) => v === 'true');

export function pageOf<T extends z.ZodType>(item: T) {
  return z.object({
    items: z.array(item),
    /** Pass as `cursor` to get the next page; null on the last page. */
    next_cursor: z.string().nullable(),
  });
}

const ERROR_CODES = Object.keys(ERROR_CATALOG) as [ErrorCode, ...ErrorCode[]];

export const ProblemSchema = z
  .object({
    type: z.string(),
    title: z.string(),
    status: z.number().int(),
    code: z.enum(ERROR_CODES),
    detail: z.string().optional(),
    /** The request id (also in the X-Request-Id response header). */
    instance: z.string().optional(),
    errors: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
  })
  .meta({ id: 'Problem', description: 'RFC 9457 problem details' });

/** Action endpoints that take no input still refuse unknown fields. */
export const EmptyBodySchema = z.strictObject({}).meta({ id: 'Empty' });
