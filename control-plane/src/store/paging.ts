/** Keyset pagination by id: ids sort by creation time, so "after this id" is a stable cursor. */
import type { Knex } from 'knex';

export interface PageRequest {
  readonly after?: string;
  readonly limit: number;
}

export interface Page<T> {
  readonly items: readonly T[];
  /** Id of the last item when more follow. */
  readonly nextAfter?: string;
}

export async function pageById<Row extends { id: string }>(query: Knex.QueryBuilder, column: string, page: PageRequest): Promise<Page<Row>> {
  if (page.after !== undefined) query.where(column, '>', page.after);
  const rows = (await query.orderBy(column, 'asc').limit(page.limit + 1)) as Row[];
  if (rows.length <= page.limit) return { items: rows };
  const items = rows.slice(0, page.limit);
  return { items, nextAfter: items[items.length - 1]!.id };
}

/** `LIKE` with the caller's text taken literally. */
export function likeContains(text: string): string {
  return `%${text.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
}
