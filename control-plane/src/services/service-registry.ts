/** Upstream services the data plane protects. */
import type { ServiceCreate, ServicePatch, ServiceResource, ServiceSettings } from '../api/services.js';
import { newId } from '../ids.js';
import { notFound } from '../problem-error.js';
import type { Page, PageRequest } from '../store/paging.js';
import type { Db } from '../store/rows.js';
import * as services from '../store/services.js';
import { mergePatch } from './patch.js';
import { planIdFor } from './references.js';
import { verifyCatalog } from './state-document.js';
import type { UnitOfWork } from './unit-of-work.js';

const RESOURCE = 'service';

type ServiceInput = Omit<ServiceCreate, 'upstream_url'> & { upstream_url?: string };

async function valuesFrom(db: Db, input: ServiceInput): Promise<services.ServiceValues> {
  const { name, display_name, description, plan, self_service, upstream_url, upstream_urls, ...rest } = input;
  const settings: ServiceSettings = { ...rest, upstream_urls: upstream_urls ?? [upstream_url!] };
  const planId = await planIdFor(db, plan);
  return {
    name,
    selfService: self_service,
    settings,
    ...(display_name !== undefined ? { displayName: display_name } : {}),
    ...(description !== undefined ? { description } : {}),
    ...(planId !== undefined ? { planId } : {}),
  };
}

export async function createService(uow: UnitOfWork, input: ServiceCreate): Promise<ServiceResource> {
  const id = newId('service', uow.now.getTime());
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'create' });
  await services.insertService(uow.tx, id, await valuesFrom(uow.tx, input), uow.now);
  await verifyCatalog(uow.tx);
  const after = await getService(uow.tx, id);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { after } });
  return after;
}

export async function updateService(uow: UnitOfWork, ref: string, patch: ServicePatch): Promise<ServiceResource> {
  const before = await getService(uow.tx, ref);
  await uow.changesState({ resourceType: RESOURCE, resourceId: before.id, action: 'update' });
  // upstream_url in a patch is shorthand for replacing upstream_urls
  const { upstream_url, ...rest } = patch;
  const normalised = upstream_url != null ? { ...rest, upstream_urls: [upstream_url] } : rest;
  const merged = mergePatch(before, normalised) as ServiceResource;
  const { id: _id, created_at: _c, updated_at: _u, ...input } = merged;
  await services.updateService(uow.tx, before.id, await valuesFrom(uow.tx, input), uow.now);
  await verifyCatalog(uow.tx);
  const after = await getService(uow.tx, before.id);
  uow.audit({ resourceType: RESOURCE, resourceId: before.id, change: { before, after } });
  return after;
}

/** Refused (409) while keys name the service: dropping it would widen them to every service. */
export async function deleteService(uow: UnitOfWork, ref: string): Promise<void> {
  const before = await getService(uow.tx, ref);
  await uow.changesState({ resourceType: RESOURCE, resourceId: before.id, action: 'delete' });
  await services.deleteService(uow.tx, before.id);
  uow.audit({ resourceType: RESOURCE, resourceId: before.id, change: { before } });
}

export async function getService(db: Db, ref: string): Promise<ServiceResource> {
  const service = await services.findService(db, ref);
  if (!service) throw notFound(`service "${ref}"`);
  return service;
}

export function listServices(db: Db, page: PageRequest, filter: { q?: string; selfService?: boolean }): Promise<Page<ServiceResource>> {
  return services.listServices(db, page, filter);
}
