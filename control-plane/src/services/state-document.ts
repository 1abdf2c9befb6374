/**
 * The whole authorization state as the data plane's StateSchema document: what `GET /v1/state` serves and
 * what every catalog change is checked against, so the control plane can never hold a state the data
 * plane would refuse to compile.
 */
import type { Knex } from 'knex';
import { compileState } from '../../../authz-service/src/state/compile.js';
import type { ConsumerSpec, IssuerSpec, KeySpec, PlanSpec, ServiceSpec, StateSpec } from '../../../authz-service/src/state/schema.js';
import type { ConsumerResource } from '../api/consumers.js';
import type { IssuerResource } from '../api/issuers.js';
import type { PlanResource } from '../api/plans.js';
import type { ServiceResource } from '../api/services.js';
import { conflict } from '../problem-error.js';
import { allConsumers } from '../store/consumers.js';
import { allIssuers } from '../store/issuers.js';
import { allKeys, type KeyRecord, type SecretRecord } from '../store/keys.js';
import { allPlans } from '../store/plans.js';
import { currentRevision } from '../store/revision.js';
import { compact, type Db } from '../store/rows.js';
import { allServices } from '../store/services.js';

/** A plan's quota is one more window: N requests per period, refilled when the period turns over. */
export function planSpec(p: PlanResource): PlanSpec {
  const limits = p.quota ? [...p.limits, { window: p.quota.period, requests: p.quota.requests }] : [...p.limits];
  return compact({ name: p.name, description: p.description, limits, bucket: p.bucket });
}

export function serviceSpec(s: ServiceResource): ServiceSpec {
  const { id: _id, display_name: _displayName, self_service: _selfService, created_at: _c, updated_at: _u, ...spec } = s;
  return spec;
}

export function issuerSpec(i: IssuerResource): IssuerSpec {
  const { id: _id, created_at: _c, updated_at: _u, ...spec } = i;
  return spec;
}

export function consumerSpec(c: ConsumerResource): ConsumerSpec {
  return compact({ id: c.id, name: c.name, plan: c.plan, subjects: c.subjects, disabled: c.disabled });
}

/** Secrets that still open the key at `nowMs`: the current one, and superseded ones inside their grace. */
export function liveSecrets(k: KeyRecord, nowMs: number): readonly SecretRecord[] {
  return k.secrets.filter((s) => s.notAfter === undefined || Date.parse(s.notAfter) > nowMs);
}

/** The fields a key has in both the state document and the API. */
export function keyCoreFields(k: KeyRecord) {
  return {
    id: k.id,
    consumer_id: k.consumerId,
    services: [...k.services],
    scopes: [...k.scopes],
    plan: k.plan,
    limits: [...k.limits],
    expires_at: k.expiresAt,
    revoked: k.revokedAt !== undefined,
  };
}

/**
 * The key as the data plane's KeySpec. With `liveAt`, secrets whose grace ended before then are left out
 * (undefined if none is live); without it every stored secret is kept and the reader judges them.
 */
export function keySpec(k: KeyRecord, liveAt?: number): KeySpec | undefined {
  const secrets = liveAt === undefined ? k.secrets : liveSecrets(k, liveAt);
  if (secrets.length === 0) return undefined;
  return compact({
    ...keyCoreFields(k),
    prefix: secrets[0]!.prefix,
    secrets: secrets.map((s) => compact({ hash: s.hash, not_after: s.notAfter })),
  });
}

export interface CatalogSpec {
  readonly plans: PlanSpec[];
  readonly issuers: IssuerSpec[];
  readonly services: ServiceSpec[];
}

export async function readCatalog(db: Db): Promise<CatalogSpec> {
  return {
    plans: (await allPlans(db)).map(planSpec),
    issuers: (await allIssuers(db)).map(issuerSpec),
    services: (await allServices(db)).map(serviceSpec),
  };
}

/**
 * Compiles plans, issuers and services as they stand inside `tx` and refuses the change (rolling the
 * transaction back) if the data plane could not load them: two services with the same match, a route
 * outside its service's prefix, an issuer alias declared twice …
 */
export async function verifyCatalog(tx: Db): Promise<void> {
  const result = compileState(await readCatalog(tx));
  if (!result.ok) {
    throw conflict(
      'the change would leave a state the data plane cannot load',
      result.errors.map((e) => {
        const colon = e.indexOf(': ');
        return colon === -1 ? { path: 'state', message: e } : { path: `state.${e.slice(0, colon)}`, message: e.slice(colon + 2) };
      }),
    );
  }
}

/** One consistent snapshot: every table is read inside a single repeatable-read transaction. */
export async function exportState(db: Knex, nowMs: number): Promise<StateSpec> {
  return db.transaction(
    async (tx) => {
      const revision = await currentRevision(tx);
      const catalog = await readCatalog(tx);
      const consumers = (await allConsumers(tx)).map(consumerSpec);
      const keys = (await allKeys(tx)).flatMap((k) => keySpec(k, nowMs) ?? []);
      return { version: 1 as const, revision, ...catalog, consumers, keys };
    },
    { isolationLevel: 'repeatable read' },
  );
}
