/** Admin operations that are not one resource: the state document, usage ingest, the audit log. */
import { StateSchema } from '../../../../authz-service/src/state/schema.js';
import { pageOf, paginationQuery } from '../../api/common.js';
import { AuditEntrySchema, AuditListQuerySchema } from '../../api/audit.js';
import { UsageBatchResultSchema, UsageBatchSchema } from '../../api/usage.js';
import { USAGE_REPORT_SCOPE } from '../../auth/actor.js';
import { exportState } from '../../services/state-document.js';
import { ingestUsage } from '../../services/usage.js';
import { listAudit } from '../../store/audit.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import { mutation, query, type Route } from '../route.js';

export function operationRoutes(): Route[] {
  return [
    query({
      operationId: 'getState',
      method: 'get',
      path: '/v1/state',
      summary: 'The whole authorization state, as the data plane loads it',
      description: 'Services, plans, issuers, consumers and key hashes in the data plane\'s state schema,, with the revision it was read at (also the ETag).',
      tag: 'state',
      access: 'admin',
      success: { status: 200, description: 'The state document', schema: StateSchema.meta({ id: 'State' }) },
      handler: async ({ db, now }) => {
        const state = await exportState(db, now.getTime());
        return { body: state, headers: { etag: `"rev-${state.revision}"`, 'cache-control': 'no-store' } };
      },
    }),
    mutation({
      operationId: 'ingestUsage',
      method: 'post',
      path: '/v1/usage',
      summary: 'Report a batch of usage counts (data plane)',
      description: `Idempotent by \`batch_id\`. Needs an administrator or a key with the \`${USAGE_REPORT_SCOPE}\` scope.`,
      tag: 'usage',
      resourceType: 'usage_batch',
      access: { anyScope: [USAGE_REPORT_SCOPE] },
      body: UsageBatchSchema,
      success: { status: 200, description: 'What was counted', schema: UsageBatchResultSchema },
      handler: async ({ uow, body }) => ({ body: await ingestUsage(uow, body) }),
    }),
    query({
      operationId: 'listAudit',
      method: 'get',
      path: '/v1/audit',
      summary: 'The audit log, newest first',
      tag: 'audit',
      access: 'admin',
      query: AuditListQuerySchema.extend(paginationQuery),
      success: { status: 200, description: 'A page of audit entries', schema: pageOf(AuditEntrySchema) },
      handler: async ({ db, query: q }) => {
        const { limit, cursor, ...filter } = q;
        const before = decodeCursor(cursor);
        const page = await listAudit(db, filter, { limit, ...(before !== undefined ? { before } : {}) });
        return { body: { items: page.items, next_cursor: encodeCursor(page.nextBefore) } };
      },
    }),
  ];
}

