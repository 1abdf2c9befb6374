/**
 * A full state for a replica, read page by page so that a million keys never sit in memory at once.
 *
 * The pages are separate queries, not one long transaction (on PGlite a long transaction would stall every
 * other request). The snapshot starts at the revision read first: every change up to it is in what follows,
 * and anything that lands during the read is at least that recent. The sync stream then sends the delta
 * from that revision before it ends the snapshot, which makes the result exactly the state at the delta's
 * revision: deltas carry whole resources, so applying one to rows it already shows changes nothing.
 */
import type { Knex } from 'knex';
import type { WireConsumer, WireKey } from '../../../authz-service/src/sync/messages.js';
import { consumerToWire, keyToWire } from '../../../authz-service/src/sync/wire.js';
import { consumerSpec, keySpec, readCatalog } from '../services/state-document.js';
import { countConsumers, pageConsumersForSync } from '../store/consumers.js';
import { countKeys, pageKeysForSync } from '../store/keys.js';
import type { Page } from '../store/paging.js';
import { currentRevision } from '../store/revision.js';

export const SNAPSHOT_PAGE_SIZE = 5000;

export interface SnapshotStart {
  readonly revision: number;
  readonly catalogJson: string;
  readonly consumerCount: number;
  readonly keyCount: number;
}

export async function startSnapshot(db: Knex): Promise<SnapshotStart> {
  const revision = await currentRevision(db);
  return {
    revision,
    catalogJson: JSON.stringify(await readCatalog(db)),
    consumerCount: await countConsumers(db),
    keyCount: await countKeys(db),
  };
}

/**
 * Every page of a keyset-paged listing, each page fetched while the previous one is being sent: the
 * database's time and the stream's overlap instead of adding up.
 */
async function* prefetched<T>(fetch: (after: string | undefined) => Promise<Page<T>>): AsyncGenerator<readonly T[]> {
  let next: Promise<Page<T>> | undefined = fetch(undefined);
  while (next) {
    const page: Page<T> = await next;
    next = page.nextAfter === undefined ? undefined : fetch(page.nextAfter);
    // a page fetched ahead must not fail unobserved while the consumer is still writing the previous one
    next?.catch(() => undefined);
    if (page.items.length > 0) yield page.items;
  }
}

const pageRequest = (limit: number, after: string | undefined) => ({ limit, ...(after !== undefined ? { after } : {}) });

export async function* consumerPages(db: Knex, pageSize = SNAPSHOT_PAGE_SIZE): AsyncGenerator<WireConsumer[]> {
  for await (const consumers of prefetched((after) => pageConsumersForSync(db, pageRequest(pageSize, after)))) {
    yield consumers.map((c) => consumerToWire(consumerSpec(c)));
  }
}

/** Keys whose every secret has ended are left out, as in the state document. */
export async function* keyPages(db: Knex, nowMs: () => number, pageSize = SNAPSHOT_PAGE_SIZE): AsyncGenerator<WireKey[]> {
  for await (const records of prefetched((after) => pageKeysForSync(db, pageRequest(pageSize, after)))) {
    const now = nowMs();
    const keys = records.flatMap((k) => {
      const spec = keySpec(k, now);
      return spec ? [keyToWire(spec)] : [];
    });
    if (keys.length > 0) yield keys;
  }
}
