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

export async function* consumerPages(db: Knex, pageSize = SNAPSHOT_PAGE_SIZE): AsyncGenerator<WireConsumer[]> {
  let after: string | undefined;
  do {
    const page = await pageConsumersForSync(db, { limit: pageSize, ...(after !== undefined ? { after } : {}) });
    if (page.items.length > 0) yield page.items.map((c) => consumerToWire(consumerSpec(c)));
    after = page.nextAfter;
  } while (after !== undefined);
}

/** Keys whose every secret has ended are left out, as in the state document. */
export async function* keyPages(db: Knex, nowMs: () => number, pageSize = SNAPSHOT_PAGE_SIZE): AsyncGenerator<WireKey[]> {
  let after: string | undefined;
  do {
    const page = await pageKeysForSync(db, { limit: pageSize, ...(after !== undefined ? { after } : {}) });
    const now = nowMs();
    const keys = page.items.flatMap((k) => {
      const spec = keySpec(k, now);
      return spec ? [keyToWire(spec)] : [];
    });
    if (keys.length > 0) yield keys;
    after = page.nextAfter;
  } while (after !== undefined);
}
