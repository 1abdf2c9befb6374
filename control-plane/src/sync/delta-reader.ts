/**
 * What changed since a revision, as one sync Delta: the change log's rows after `since`, each changed
 * consumer or key read as it stands now, and the whole catalog if any service, plan or issuer changed. All
 * of it inside one repeatable-read transaction, so the delta is exactly the state at its `revision`.
 */
import type { Knex } from 'knex';
import type { WireAction, WireChange, WireDelta, WireResource } from '../../../authz-service/src/sync/messages.js';
import { consumerToWire, keyToWire } from '../../../authz-service/src/sync/wire.js';
import { consumerSpec, keySpec, readCatalog } from '../services/state-document.js';
import { consumersByIds } from '../store/consumers.js';
import { keysForSync } from '../store/keys.js';
import { currentRevision } from '../store/revision.js';
import { type ChangeRow, changesBetween, prunedThrough } from '../store/state-changes.js';

/** A delta, or "the change log cannot say": the replica needs a snapshot. */
export type DeltaRead = { readonly kind: 'delta'; readonly delta: WireDelta } | { readonly kind: 'gap'; readonly reason: string };

/** Beyond this many changed rows a snapshot is the cheaper way to catch up. */
export const DEFAULT_MAX_DELTA_CHANGES = 50_000;

const RESOURCES: Readonly<Record<string, WireResource>> = {
  service: 'RESOURCE_SERVICE',
  plan: 'RESOURCE_PLAN',
  issuer: 'RESOURCE_ISSUER',
  consumer: 'RESOURCE_CONSUMER',
  key: 'RESOURCE_KEY',
};
const CATALOG = new Set<WireResource>(['RESOURCE_SERVICE', 'RESOURCE_PLAN', 'RESOURCE_ISSUER']);

const ACTIONS: Readonly<Record<string, WireAction>> = {
  create: 'ACTION_CREATED',
  update: 'ACTION_UPDATED',
  delete: 'ACTION_DELETED',
  revoke: 'ACTION_REVOKED',
  restore: 'ACTION_RESTORED',
  rotate: 'ACTION_ROTATED',
};

interface Touched {
  readonly resource: WireResource;
  readonly id: string;
  action: WireAction;
}

/** The last action per resource, in the order resources were first touched. */
function touched(rows: readonly ChangeRow[]): Touched[] | string {
  const byResource = new Map<string, Touched>();
  for (const row of rows) {
    const resource = RESOURCES[row.resourceType];
    if (resource === undefined) return `unknown resource type "${row.resourceType}" in the change log`;
    const id = `${row.resourceType}\u0000${row.resourceId}`;
    const action = ACTIONS[row.action] ?? 'ACTION_UPDATED';
    const entry = byResource.get(id);
    if (entry) entry.action = action;
    else byResource.set(id, { resource, id: row.resourceId, action });
  }
  return [...byResource.values()];
}

export async function readDelta(db: Knex, since: number, nowMs: number, maxChanges = DEFAULT_MAX_DELTA_CHANGES): Promise<DeltaRead> {
  return db.transaction(
    async (tx): Promise<DeltaRead> => {
      const head = await currentRevision(tx);
      if (since > head) return { kind: 'gap', reason: `revision ${since} is ahead of this database (${head})` };
      if (since < (await prunedThrough(tx))) return { kind: 'gap', reason: `the change log no longer reaches back to revision ${since}` };
      const rows = await changesBetween(tx, since, head, maxChanges + 1);
      if (rows.length > maxChanges) return { kind: 'gap', reason: `more than ${maxChanges} changes since revision ${since}` };
      const resources = touched(rows);
      if (typeof resources === 'string') return { kind: 'gap', reason: resources };

      const keyIds = resources.filter((r) => r.resource === 'RESOURCE_KEY').map((r) => r.id);
      const consumerIds = resources.filter((r) => r.resource === 'RESOURCE_CONSUMER').map((r) => r.id);
      const keys = new Map((await keysForSync(tx, keyIds)).map((k) => [k.id, k]));
      const consumers = new Map((await consumersByIds(tx, consumerIds)).map((c) => [c.id, c]));
      const catalogChanged = resources.some((r) => CATALOG.has(r.resource));

      const changes: WireChange[] = resources.map((r) => {
        if (r.resource === 'RESOURCE_KEY') {
          const record = keys.get(r.id);
          // a key whose every secret has ended is as good as gone for the data plane
          const spec = record && keySpec(record, nowMs);
          return spec ? { resource: r.resource, action: r.action, id: r.id, key: keyToWire(spec) } : { resource: r.resource, action: 'ACTION_DELETED', id: r.id };
        }
        if (r.resource === 'RESOURCE_CONSUMER') {
          const consumer = consumers.get(r.id);
          return consumer
            ? { resource: r.resource, action: r.action, id: r.id, consumer: consumerToWire(consumerSpec(consumer)) }
            : { resource: r.resource, action: 'ACTION_DELETED', id: r.id };
        }
        return { resource: r.resource, action: r.action, id: r.id };
      });
      return {
        kind: 'delta',
        delta: { from_revision: since, revision: head, changes, catalog_json: catalogChanged ? JSON.stringify(await readCatalog(tx)) : '' },
      };
    },
    { isolationLevel: 'repeatable read' },
  );
}
