/** /v1/provisioners: operations on external key provisioners (3scale reconciliation). */
import { EmptyBodySchema } from '../../api/common.js';
import { ReconcileReportSchema } from '../../api/provisioners.js';
import { noExternalChange, takeChange } from '../../provisioning/external-change.js';
import type { ThreescaleReconciler } from '../../provisioning/threescale/reconcile.js';
import { mutation, type Route } from '../route.js';

export function provisionerRoutes(threescale: ThreescaleReconciler): Route[] {
  return [
    mutation({
      operationId: 'reconcileThreescale',
      method: 'post',
      path: '/v1/provisioners/threescale/reconcile',
      summary: 'Reconcile 3scale applications with the keys that mirror them, now',
      description:
        'Reads every application of the mapped 3scale services (paged), repairs drift in both directions and reports what it ' +
        'changed, with key and application ids. Each change is audited. Present only when 3scale provisioning is configured.',
      tag: 'provisioners',
      resourceType: 'provisioner',
      access: 'admin',
      body: EmptyBodySchema,
      bodyOptional: true,
      success: { status: 200, description: 'What changed', schema: ReconcileReportSchema },
      errors: [502],
      // 3scale is read before the transaction: no network wait under the state lock
      prepare: async () => noExternalChange(await threescale.snapshot()),
      handler: async ({ uow, prepared }) => ({ body: await threescale.apply(uow, takeChange(prepared)) }),
    }),
  ];
}
