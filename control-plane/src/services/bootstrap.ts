/**
 * First start with an empty store: create one admin consumer and one admin key, so an operator can begin
 * without an identity provider. Happens once per installation (a meta row records it), even with several
 * replicas starting together, and never when PORTCULLIS_BOOTSTRAP_ADMIN_KEY provides the credential.
 */
import type { Knex } from 'knex';
import { ADMIN_SCOPE, SYSTEM_ACTOR, type Caller } from '../auth/actor.js';
import { countConsumers, insertConsumer } from '../store/consumers.js';
import { countKeys } from '../store/keys.js';
import { claimMeta } from '../store/meta.js';
import type { Db } from '../store/rows.js';
import { newId } from '../ids.js';
import type { KeyLifecycle } from './keys.js';
import { inUnitOfWork, type Clock } from './unit-of-work.js';

export type BootstrapResult =
  | { readonly created: false }
  | { readonly created: true; readonly consumerId: string; readonly keyId: string; readonly secret: string };

const STARTUP: Caller = { actor: SYSTEM_ACTOR, requestId: 'startup' };

async function isEmpty(db: Db): Promise<boolean> {
  return (await countConsumers(db)) === 0 && (await countKeys(db)) === 0;
}

export async function bootstrapFirstAdmin(db: Knex, lifecycle: KeyLifecycle, clock: Clock): Promise<BootstrapResult> {
  if (!(await isEmpty(db))) return { created: false };
  const { value } = await inUnitOfWork(db, STARTUP, 'bootstrap', clock, async (uow): Promise<{ status: number; value: BootstrapResult }> => {
    await uow.lockState();
    if (!(await isEmpty(uow.tx)) || !(await claimMeta(uow.tx, 'bootstrap_admin', 'created', uow.now))) return { status: 200, value: { created: false } };
    const consumerId = newId('consumer', uow.now.getTime());
    await uow.changesState({ resourceType: 'consumer', resourceId: consumerId, action: 'create' });
    await insertConsumer(uow.tx, consumerId, { name: 'admin', kind: 'service_account', disabled: false }, uow.now);
    uow.audit({ resourceType: 'consumer', resourceId: consumerId, change: { after: { name: 'admin', kind: 'service_account' } } });
    const material = lifecycle.provisioners.builtin.mint();
    const issued = await lifecycle.create(uow, { consumerId, name: 'bootstrap admin key', services: [], scopes: [ADMIN_SCOPE], limits: [] }, material);
    return { status: 201, value: { created: true, consumerId, keyId: issued.record.id, secret: issued.secret } };
  });
  return value;
}
