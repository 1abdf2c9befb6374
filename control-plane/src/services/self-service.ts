/**
 * What any authenticated user may do for themselves: see the services they may use (and whether they
 * hold a key for each), get-or-create their key for a service in one call, and manage their own keys.
 * Every lookup is scoped to the caller's consumer, so another consumer's key is "not found", never
 * "forbidden": its existence is not revealed.
 */
import type { Knex } from 'knex';
import { autoConsumerId } from '../../../authz-service/src/credentials/jwt/index.js';
import type { ConsumerResource } from '../api/consumers.js';
import type { MyKeyCreate } from '../api/keys.js';
import type { ServiceResource } from '../api/services.js';
import { ADMIN_SCOPE, type Caller } from '../auth/actor.js';
import { ProblemError, conflict, notFound, type FieldError } from '../problem-error.js';
import { consumerExists } from '../store/consumers.js';
import { countHeldKeys, heldKeysForService, listKeys } from '../store/keys.js';
import type { Page, PageRequest } from '../store/paging.js';
import type { Db } from '../store/rows.js';
import { findService, listServices } from '../store/services.js';
import { ensureSubjectConsumer, getConsumer } from './consumers.js';
import { takeChange, type ExternalChange } from '../provisioning/external-change.js';
import type { KeyMaterial } from '../provisioning/provisioner.js';
import type { IssuedKey, KeyLifecycle } from './keys.js';
import { inUnitOfWork, type Clock, type UnitOfWork } from './unit-of-work.js';

/** Keys a user may hold at once through self-service; admins are not bound by it. */
export const MAX_SELF_SERVICE_KEYS = 50;

/**
 * The caller's consumer id. A JWT user of an `auto`-mapped issuer gets their consumer created (and linked
 * to their subject) on the first self-service call, under the id the data plane already uses for them.
 */
export async function ensureOwnConsumer(db: Knex, caller: Caller, clock: Clock): Promise<string> {
  const { actor } = caller;
  const id = actor.consumerId;
  if (id === undefined) {
    throw new ProblemError('forbidden', 'this credential does not belong to a consumer; self-service needs a user or service-account credential');
  }
  const issuer = actor.principal?.issuer;
  // only an auto-mapped subject (whose consumer id is derived from issuer and subject) is created here
  if (actor.kind === 'jwt' && issuer !== undefined && id === autoConsumerId(issuer, actor.principal!.subject) && !(await consumerExists(db, id))) {
    const subject = { issuer, sub: actor.principal!.subject };
    await inUnitOfWork(db, caller, 'consumer.auto_create', clock, async (uow) => ({
      status: 201,
      value: await ensureSubjectConsumer(uow, id, actor.name ?? actor.principal!.subject, subject),
    }));
  }
  return id;
}

export interface MeView {
  readonly actor: { kind: string; id: string; admin: boolean; key_id?: string; issuer?: string; subject?: string };
  readonly consumer: ConsumerResource;
}

export async function me(db: Db, caller: Caller, consumerId: string): Promise<MeView> {
  const { actor } = caller;
  const p = actor.principal;
  return {
    actor: {
      kind: actor.kind,
      id: actor.id,
      admin: actor.admin,
      ...(p?.keyId !== undefined ? { key_id: p.keyId } : {}),
      ...(p?.issuer !== undefined ? { issuer: p.issuer } : {}),
      ...(p !== undefined ? { subject: p.subject } : {}),
    },
    consumer: await getConsumer(db, consumerId),
  };
}

export interface MyService {
  readonly name: string;
  readonly display_name?: string;
  readonly description?: string;
  readonly credentials: readonly string[];
  /** Whether users can get an API key for it here (it accepts API keys). */
  readonly api_keys: boolean;
  readonly has_key: boolean;
  /** The newest usable key that may call the service, if any. */
  readonly key?: { id: string; prefix: string };
}

const acceptsKeys = (s: ServiceResource) => s.credentials.includes('api_key');

export async function myServices(db: Db, consumerId: string, page: PageRequest, now: Date): Promise<Page<MyService>> {
  const services = await listServices(db, page, { selfService: true });
  const keys = (await listKeys(db, { limit: 10_000 }, { consumerId, status: 'active', now })).items;
  return {
    ...services,
    items: services.items.map((s) => {
      // a key without a service list may call every service
      const key = [...keys].reverse().find((k) => k.services.length === 0 || k.services.includes(s.name));
      const prefix = key?.secrets[0]?.prefix;
      return {
        name: s.name,
        ...(s.display_name !== undefined ? { display_name: s.display_name } : {}),
        ...(s.description !== undefined ? { description: s.description } : {}),
        credentials: s.credentials,
        api_keys: acceptsKeys(s),
        has_key: key !== undefined,
        ...(key && prefix ? { key: { id: key.id, prefix } } : {}),
      };
    }),
  };
}

async function selfServiceTarget(db: Db, ref: string): Promise<ServiceResource | undefined> {
  const service = await findService(db, ref);
  return service && service.self_service ? service : undefined;
}

/** Requested scopes must be ones the caller holds, and never the admin scope. */
function checkScopes(caller: Caller, scopes: readonly string[]): void {
  const errors: FieldError[] = [];
  scopes.forEach((scope, i) => {
    if (scope === ADMIN_SCOPE || !caller.actor.grants.has(scope)) errors.push({ path: `body.scopes[${i}]`, message: `you cannot grant "${scope}"` });
  });
  if (errors.length > 0) throw new ProblemError('validation_failed', 'a key can only carry scopes its owner holds', errors);
}

async function checkQuota(db: Db, consumerId: string, now: Date): Promise<void> {
  // keys awaiting approval count: otherwise every request would queue one more application for approval
  if ((await countHeldKeys(db, consumerId, now)) >= MAX_SELF_SERVICE_KEYS) {
    throw conflict(`you already hold ${MAX_SELF_SERVICE_KEYS} keys (active or awaiting approval); revoke one first`);
  }
}

/** Everything about a self-service key request that can be refused without a transaction. */
async function checkMyKey(db: Db, caller: Caller, input: MyKeyCreate): Promise<void> {
  checkScopes(caller, input.scopes);
  const errors: FieldError[] = [];
  for (const [i, ref] of input.services.entries()) {
    const service = await selfServiceTarget(db, ref);
    if (!service) errors.push({ path: `body.services[${i}]`, message: `no self-service service "${ref}"` });
    else if (!acceptsKeys(service)) errors.push({ path: `body.services[${i}]`, message: `service "${ref}" does not accept API keys` });
  }
  if (errors.length > 0) throw new ProblemError('validation_failed', 'some services cannot be used with a self-service key', errors);
}

/** Before the transaction: refuse what can be refused, then get the key's secret from its provisioner. */
export async function prepareMyKey(
  db: Db,
  caller: Caller,
  lifecycle: KeyLifecycle,
  consumerId: string,
  input: MyKeyCreate,
  now: Date,
): Promise<ExternalChange<KeyMaterial>> {
  await checkMyKey(db, caller, input);
  await checkQuota(db, consumerId, now);
  return lifecycle.prepareCreate(db, { consumerId, services: input.services, ...(input.name !== undefined ? { name: input.name } : {}) });
}

export async function createMyKey(uow: UnitOfWork, lifecycle: KeyLifecycle, consumerId: string, input: MyKeyCreate, material: KeyMaterial): Promise<IssuedKey> {
  await checkMyKey(uow.tx, uow.caller, input);
  await checkQuota(uow.tx, consumerId, uow.now);
  return lifecycle.create(
    uow,
    {
      consumerId,
      services: input.services,
      scopes: input.scopes,
      limits: [],
      ...(input.name !== undefined ? { name: input.name } : {}),
      ...(input.expires_at !== undefined ? { expiresAt: input.expires_at } : {}),
    },
    material,
  );
}

export type ServiceKey = { readonly created: true; readonly issued: IssuedKey } | { readonly created: false; readonly record: IssuedKey['record'] };

async function keyTarget(db: Db, serviceRef: string): Promise<ServiceResource> {
  const service = await selfServiceTarget(db, serviceRef);
  if (!service) throw notFound(`service "${serviceRef}"`);
  if (!acceptsKeys(service)) throw conflict(`service "${service.name}" does not accept API keys`);
  return service;
}

/**
 * Before the transaction of `serviceKey`: nothing when the caller already holds a key for the service,
 * otherwise the new key's secret from the service's provisioner (3scale: the user's application there).
 */
export async function prepareServiceKey(db: Db, lifecycle: KeyLifecycle, consumerId: string, serviceRef: string, now: Date): Promise<ExternalChange<KeyMaterial> | undefined> {
  const service = await keyTarget(db, serviceRef);
  if ((await heldKeysForService(db, consumerId, service.id, now))[0]) return undefined;
  await checkQuota(db, consumerId, now);
  return lifecycle.prepareCreate(db, { consumerId, services: [service.id], name: service.name }, 'params.service');
}

/**
 * The MLaaS `/api/services/init`: the caller's key for one service, created if they hold none (a key still
 * awaiting approval is held). The secret is only in the answer when this call created the key.
 */
export async function serviceKey(
  uow: UnitOfWork,
  lifecycle: KeyLifecycle,
  consumerId: string,
  serviceRef: string,
  prepared: ExternalChange<KeyMaterial> | undefined,
): Promise<ServiceKey> {
  const service = await keyTarget(uow.tx, serviceRef);
  const existing = await heldKeysForService(uow.tx, consumerId, service.id, uow.now);
  if (existing[0]) return { created: false, record: existing[0] };
  // take the state lock, then look again: two concurrent first calls must not both create
  await uow.lockState();
  const raced = await heldKeysForService(uow.tx, consumerId, service.id, uow.now);
  if (raced[0]) return { created: false, record: raced[0] };
  await checkQuota(uow.tx, consumerId, uow.now);
  const issued = await lifecycle.create(uow, { consumerId, services: [service.id], scopes: [], limits: [], name: service.name }, takeChange(prepared));
  return { created: true, issued };
}
