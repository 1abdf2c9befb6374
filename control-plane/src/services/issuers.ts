/** Trusted OIDC issuers. */
import type { IssuerCreate, IssuerPatch, IssuerResource } from '../api/issuers.js';
import { newId } from '../ids.js';
import { notFound } from '../problem-error.js';
import * as issuers from '../store/issuers.js';
import type { Page, PageRequest } from '../store/paging.js';
import type { Db } from '../store/rows.js';
import { mergePatch } from './patch.js';
import { issuerSpec, verifyCatalog } from './state-document.js';
import type { UnitOfWork } from './unit-of-work.js';

const RESOURCE = 'issuer';

export async function createIssuer(uow: UnitOfWork, input: IssuerCreate): Promise<IssuerResource> {
  const id = newId('issuer', uow.now.getTime());
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'create' });
  const after = await issuers.insertIssuer(uow.tx, id, input, uow.now);
  await verifyCatalog(uow.tx);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { after } });
  return after;
}

export async function updateIssuer(uow: UnitOfWork, id: string, patch: IssuerPatch): Promise<IssuerResource> {
  const before = await getIssuer(uow.tx, id);
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'update' });
  const after = await issuers.updateIssuer(uow.tx, id, issuerSpec(mergePatch(before, patch)), uow.now);
  await verifyCatalog(uow.tx);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { before, after } });
  return after;
}

export async function deleteIssuer(uow: UnitOfWork, id: string): Promise<void> {
  const before = await getIssuer(uow.tx, id);
  await uow.changesState({ resourceType: RESOURCE, resourceId: id, action: 'delete' });
  await issuers.deleteIssuer(uow.tx, id);
  uow.audit({ resourceType: RESOURCE, resourceId: id, change: { before } });
}

export async function getIssuer(db: Db, id: string): Promise<IssuerResource> {
  const issuer = await issuers.findIssuer(db, id);
  if (!issuer) throw notFound(`issuer "${id}"`);
  return issuer;
}

export function listIssuers(db: Db, page: PageRequest): Promise<Page<IssuerResource>> {
  return issuers.listIssuers(db, page);
}
