/** Consumers (people and service accounts) and their OIDC subject links. */
import type { ConsumerCreate, ConsumerPatch, ConsumerResource, Subject } from '../api/consumers.js';
import { newId } from '../ids.js';
import { conflict, notFound } from '../problem-error.js';
import * as consumers from '../store/consumers.js';
import type { Page, PageRequest } from '../store/paging.js';
import type { Db } from '../store/rows.js';
import { planIdFor } from './references.js';
import type { UnitOfWork } from './unit-of-work.js';

const RESOURCE = 'consumer';

function uniqueSubjects(list: readonly Subject[]): Subject[] {
  const seen = new Map<string, Subject>();
  for (const s of list) seen.set(`${s.issuer}\u0000${s.sub}`, s);
  return [...seen.values()];
}

export async function createConsumer(uow: UnitOfWork, input: ConsumerCreate): Promise<ConsumerResource> {
  const id = input.id ?? newId('consumer', uow.now.getTime());
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'create' });
  if (await consumers.consumerExists(uow.tx, id)) throw conflict(`consumer "${id}" already exists`);
  const planId = await planIdFor(uow.tx, input.plan);
  await consumers.insertConsumer(uow.tx, id, { name: input.name, kind: input.kind, disabled: input.disabled, ...(planId ? { planId } : {}) }, uow.now);
  await consumers.insertSubjects(uow.tx, id, uniqueSubjects([...(input.subject ? [input.subject] : []), ...(input.subjects ?? [])]), uow.now);
  const after = await getConsumer(uow.tx, id);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { after } });
  return after;
}

export async function updateConsumer(uow: UnitOfWork, id: string, patch: ConsumerPatch): Promise<ConsumerResource> {
  const before = await getConsumer(uow.tx, id);
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'update' });
  const planId = patch.plan === undefined ? await planIdFor(uow.tx, before.plan) : await planIdFor(uow.tx, patch.plan);
  await consumers.updateConsumer(
    uow.tx,
    id,
    {
      name: patch.name ?? before.name,
      kind: patch.kind ?? before.kind,
      disabled: patch.disabled ?? before.disabled,
      ...(planId ? { planId } : {}),
    },
    uow.now,
  );
  const after = await getConsumer(uow.tx, id);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { before, after } });
  return after;
}

/** Deletes the consumer with its keys, subject links and usage; the audit log keeps the history. */
export async function deleteConsumer(uow: UnitOfWork, id: string): Promise<void> {
  const before = await getConsumer(uow.tx, id);
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'delete' });
  await consumers.deleteConsumer(uow.tx, id);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { before } });
}

export async function linkSubject(uow: UnitOfWork, id: string, subject: Subject): Promise<ConsumerResource> {
  await getConsumer(uow.tx, id);
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'update' });
  await consumers.insertSubjects(uow.tx, id, [subject], uow.now);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { linked: subject } });
  return getConsumer(uow.tx, id);
}

export async function unlinkSubject(uow: UnitOfWork, id: string, subject: Subject): Promise<ConsumerResource> {
  await getConsumer(uow.tx, id);
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'update' });
  if (!(await consumers.deleteSubject(uow.tx, id, subject))) throw notFound(`subject ${subject.sub} of ${subject.issuer} on consumer "${id}"`);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { unlinked: subject } });
  return getConsumer(uow.tx, id);
}

/**
 * A JWT user's first self-service call under an issuer with `consumer_mapping: auto`: the consumer the
 * data plane would attribute their requests to is created, with that id, and linked to the subject.
 */
export async function ensureSubjectConsumer(uow: UnitOfWork, id: string, name: string, subject: Subject): Promise<ConsumerResource> {
  const existing = await consumers.findConsumer(uow.tx, id);
  if (existing) return existing;
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'create' });
  // a concurrent first call may have created it while we waited for the state lock
  const raced = await consumers.findConsumer(uow.tx, id);
  if (raced) return raced;
  await consumers.insertConsumer(uow.tx, id, { name, kind: 'person', disabled: false }, uow.now);
  await consumers.insertSubjects(uow.tx, id, [subject], uow.now);
  const after = await getConsumer(uow.tx, id);
  uow.audit({ resourceType: RESOURCE, resourceId: id, action: 'consumer.auto_create', change: { after } });
  return after;
}

export async function getConsumer(db: Db, id: string): Promise<ConsumerResource> {
  const consumer = await consumers.findConsumer(db, id);
  if (!consumer) throw notFound(`consumer "${id}"`);
  return consumer;
}

export function listConsumers(db: Db, page: PageRequest, filter: consumers.ConsumerFilter): Promise<Page<ConsumerResource>> {
  return consumers.listConsumers(db, page, filter);
}
