/** Opaque pagination cursors: clients pass back what they were given and learn nothing from it. */
import type { Page, PageRequest } from '../store/paging.js';
import { ProblemError } from '../problem-error.js';

const VERSION = 'c1:';

export function encodeCursor(after: string | undefined): string | null {
  return after === undefined ? null : Buffer.from(VERSION + after, 'utf8').toString('base64url');
}

export function decodeCursor(cursor: string | undefined): string | undefined {
  if (cursor === undefined) return undefined;
  const text = /^[A-Za-z0-9_-]+$/.test(cursor) ? Buffer.from(cursor, 'base64url').toString('utf8') : '';
  if (!text.startsWith(VERSION) || !/^[A-Za-z0-9._:@-]{1,128}$/.test(text.slice(VERSION.length))) {
    throw new ProblemError('validation_failed', 'query.cursor: not a cursor from this API', [{ path: 'query.cursor', message: 'not a cursor from this API' }]);
  }
  return text.slice(VERSION.length);
}

/** The store's page request from a validated `limit`/`cursor` query. */
export function pageRequest(q: { readonly limit: number; readonly cursor?: string | undefined }): PageRequest {
  const after = decodeCursor(q.cursor);
  return after === undefined ? { limit: q.limit } : { limit: q.limit, after };
}

/** The API's page body: items plus the cursor for the next page. */
export function pageBody<T, U = T>(page: Page<T>, map?: (item: T) => U): { items: readonly (T | U)[]; next_cursor: string | null } {
  return { items: map ? page.items.map(map) : page.items, next_cursor: encodeCursor(page.nextAfter) };
}
