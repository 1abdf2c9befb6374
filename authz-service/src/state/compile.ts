/**
 * Validates a declarative state document and compiles it into the frozen indexes the decision core reads:
 * a route table, a key index by hash, consumers by id and by OIDC subject. Every problem is reported at
 * once, with its path, so that a bad file or snapshot is rejected whole and the previous state stays active.
 */
import type { RouteRef } from '../core/decision.js';
import {
  CatalogSchema,
  type CatalogSpec,
  type ConsumerSpec,
  type CredentialType,
  type IssuerSpec,
  type KeySpec,
  type LimitSpec,
  type PlanSpec,
  type ServiceSpec,
  StateSchema,
  windowSeconds,
} from './schema.js';

export interface CompiledLimit extends LimitSpec {
  readonly windowSeconds: number;
}

export interface CompiledPlan {
  readonly name: string;
  readonly limits: readonly CompiledLimit[];
  readonly bucket: PlanSpec['bucket'];
}

export interface CompiledRoute {
  readonly ref: RouteRef;
  readonly pathPrefix: string;
  /** undefined: every method. */
  readonly methods?: ReadonlySet<string>;
  readonly scopes: readonly string[];
  readonly roles: readonly string[];
  readonly cost: number;
  readonly public: boolean;
}

export interface CompiledService {
  readonly name: string;
  readonly spec: ServiceSpec;
  readonly credentials: ReadonlySet<CredentialType>;
  /** Routes, longest prefix first. */
  readonly routes: readonly CompiledRoute[];
  /** What a request that matches the service but none of its routes is judged by. */
  readonly defaultRoute: CompiledRoute;
}

export interface CompiledKey {
  readonly id: string;
  readonly consumerId: string;
  readonly services?: ReadonlySet<string>;
  readonly scopes: ReadonlySet<string>;
  readonly plan?: string;
  readonly limits: readonly CompiledLimit[];
  readonly expiresAtMs?: number;
  readonly revoked: boolean;
}

/** One secret of a key: after rotation a key has two until the old one's grace ends. */
export interface KeySecretEntry {
  readonly key: CompiledKey;
  /** Epoch ms after which this secret no longer works (superseded by rotation). */
  readonly notAfterMs?: number;
}

export type RouteMatch =
  | { readonly kind: 'matched'; readonly service: CompiledService; readonly route: CompiledRoute }
  | { readonly kind: 'no_route' };

/** Plans, issuers and services, compiled: what a request is routed and limited by. */
export interface CompiledCatalog {
  readonly spec: CatalogSpec;
  readonly plans: ReadonlyMap<string, CompiledPlan>;
  readonly issuers: readonly IssuerSpec[];
  readonly services: ReadonlyMap<string, CompiledService>;
  matchRoute(host: string, path: string, method: string, hints?: Readonly<Record<string, string>>): RouteMatch;
}

/** Consumers and keys, indexed for lookups; a synced state patches these in place instead of rebuilding them. */
export interface PrincipalIndexes {
  readonly consumers: ReadonlyMap<string, ConsumerSpec>;
  readonly keysByHash: ReadonlyMap<string, KeySecretEntry>;
  /** Keys (not secrets) in the index. */
  readonly keyCount: number;
  consumerBySubject(issuer: string, subject: string): ConsumerSpec | undefined;
}

export interface CompiledState {
  readonly revision: number;
  /**
   * The declarative catalog this state was compiled from. Consumers and keys live only in the indexes: a
   * synced state holds a million keys, far too many to keep twice.
   */
  readonly catalog: CatalogSpec;
  readonly plans: ReadonlyMap<string, CompiledPlan>;
  readonly issuers: readonly IssuerSpec[];
  readonly services: ReadonlyMap<string, CompiledService>;
  readonly consumers: ReadonlyMap<string, ConsumerSpec>;
  readonly keysByHash: ReadonlyMap<string, KeySecretEntry>;
  readonly keyCount: number;
  consumerBySubject(issuer: string, subject: string): ConsumerSpec | undefined;
  matchRoute(host: string, path: string, method: string, hints?: Readonly<Record<string, string>>): RouteMatch;
}

export type CompileResult = { readonly ok: true; readonly state: CompiledState } | { readonly ok: false; readonly errors: readonly string[] };
export type CatalogResult = { readonly ok: true; readonly catalog: CompiledCatalog } | { readonly ok: false; readonly errors: readonly string[] };

/** The bySubject index key of an OIDC identity. */
export const subjectKey = (issuer: string, subject: string): string => `${issuer}\u0000${subject}`;

/** Segment-aware prefix test: "/v1" matches "/v1" and "/v1/x", not "/v1x". */
export function pathHasPrefix(path: string, prefix: string): boolean {
  if (prefix === '/' || prefix === '') return true;
  if (!path.startsWith(prefix)) return false;
  return path.length === prefix.length || prefix.endsWith('/') || path.charCodeAt(prefix.length) === 47;
}

function compileLimits(limits: readonly LimitSpec[]): CompiledLimit[] {
  return limits.map((l) => Object.freeze({ ...l, windowSeconds: windowSeconds(l.window) }));
}

export function isoToMs(iso: string | undefined): number | undefined {
  return iso === undefined ? undefined : Date.parse(iso);
}

/** A host pattern's rank: exact hosts beat wildcards, longer wildcards beat shorter, any host beats none. */
export function hostRank(host: string | undefined): number {
  if (host === undefined) return 0;
  return host.startsWith('*.') ? host.length : 100_000;
}

/** Also tells whether one pattern covers another: hostMatches("*.example.com", "*.eu.example.com") is true. */
export function hostMatches(pattern: string | undefined, host: string): boolean {
  if (pattern === undefined) return true;
  if (!pattern.startsWith('*.')) return pattern === host;
  return host.length > pattern.length - 1 && host.endsWith(pattern.slice(1));
}

/** Where a service sits in the matching order: its host pattern and path prefix ("/" when it has none). */
export interface MatchKey {
  readonly host?: string;
  readonly prefix: string;
}

/**
 * Portcullis' matching order, host first (like nginx's server_name), then the longest path prefix. The
 * gateway configuration renderers order (and prioritise) their routes by the same comparator.
 */
export function compareMatchOrder(a: MatchKey, b: MatchKey): number {
  return hostRank(b.host) - hostRank(a.host) || b.prefix.length - a.prefix.length;
}

interface ServiceCandidate extends MatchKey {
  readonly service: CompiledService;
}

function compileService(spec: ServiceSpec, errors: string[], at: string): CompiledService {
  const servicePrefix = spec.match.path_prefix ?? '/';
  const defaultRoute: CompiledRoute = Object.freeze({
    ref: Object.freeze({ service: spec.name, route: 'default' }),
    pathPrefix: servicePrefix,
    scopes: spec.scopes,
    roles: spec.roles,
    cost: 1,
    public: false,
  });
  const routeNames = new Set<string>();
  const routes: CompiledRoute[] = spec.routes.map((r, i) => {
    if (routeNames.has(r.name) || r.name === 'default') errors.push(`${at}.routes[${i}].name: duplicate or reserved route name "${r.name}"`);
    routeNames.add(r.name);
    if (!pathHasPrefix(r.path_prefix, servicePrefix)) {
      errors.push(`${at}.routes[${i}].path_prefix: "${r.path_prefix}" is outside the service prefix "${servicePrefix}"`);
    }
    return Object.freeze({
      ref: Object.freeze({ service: spec.name, route: r.name }),
      pathPrefix: r.path_prefix,
      ...(r.methods ? { methods: new Set(r.methods) } : {}),
      // service-wide requirements apply to every route as well
      scopes: [...new Set([...spec.scopes, ...r.scopes])],
      roles: [...new Set([...spec.roles, ...r.roles])],
      cost: r.cost,
      public: r.public,
    });
  });
  // two routes with the same prefix whose methods overlap could both claim one request
  for (let i = 0; i < routes.length; i++) {
    for (let j = i + 1; j < routes.length; j++) {
      const a = routes[i]!;
      const b = routes[j]!;
      if (a.pathPrefix !== b.pathPrefix) continue;
      const overlap = !a.methods || !b.methods || [...a.methods].some((m) => b.methods!.has(m));
      if (overlap) errors.push(`${at}.routes: "${a.ref.route}" and "${b.ref.route}" both match ${a.pathPrefix} for the same methods`);
    }
  }
  routes.sort((a, b) => b.pathPrefix.length - a.pathPrefix.length);
  return Object.freeze({
    name: spec.name,
    spec,
    credentials: new Set(spec.credentials),
    routes: Object.freeze(routes),
    defaultRoute,
  });
}

function selectRoute(service: CompiledService, path: string, method: string, routeHint?: string): CompiledRoute | undefined {
  if (routeHint !== undefined) {
    return routeHint === 'default' ? service.defaultRoute : service.routes.find((r) => r.ref.route === routeHint);
  }
  for (const route of service.routes) {
    if ((route.methods === undefined || route.methods.has(method)) && pathHasPrefix(path, route.pathPrefix)) return route;
  }
  return service.defaultRoute;
}

/** A key record as the decision core reads it; shared with the control plane, which stores the same fields. */
export function compileKey(k: KeySpec): CompiledKey {
  const expiresAtMs = isoToMs(k.expires_at);
  return Object.freeze({
    id: k.id,
    consumerId: k.consumer_id,
    ...(k.services.length > 0 ? { services: new Set(k.services) } : {}),
    scopes: new Set(k.scopes),
    ...(k.plan !== undefined ? { plan: k.plan } : {}),
    limits: Object.freeze(compileLimits(k.limits)),
    ...(expiresAtMs !== undefined ? { expiresAtMs } : {}),
    revoked: k.revoked,
  });
}

/** Plans, issuers and services: each checked on its own and against the others; problems go to `errors`. */
function buildCatalog(spec: CatalogSpec, errors: string[]): CompiledCatalog {
  const plans = new Map<string, CompiledPlan>();
  spec.plans.forEach((p, i) => {
    if (plans.has(p.name)) errors.push(`plans[${i}].name: duplicate plan "${p.name}"`);
    const windows = new Set<string>();
    p.limits.forEach((l, j) => {
      if (windows.has(l.window)) errors.push(`plans[${i}].limits[${j}].window: "${l.window}" appears twice`);
      windows.add(l.window);
    });
    plans.set(p.name, Object.freeze({ name: p.name, limits: Object.freeze(compileLimits(p.limits)), bucket: p.bucket }));
  });

  const issuerNames = new Set<string>();
  spec.issuers.forEach((iss, i) => {
    for (const name of [iss.issuer, ...iss.aliases]) {
      if (issuerNames.has(name)) errors.push(`issuers[${i}]: issuer or alias "${name}" is declared twice`);
      issuerNames.add(name);
    }
  });

  const services = new Map<string, CompiledService>();
  const candidates: ServiceCandidate[] = [];
  const matchKeys = new Map<string, string>();
  spec.services.forEach((s, i) => {
    const at = `services[${i}]`;
    if (services.has(s.name)) errors.push(`${at}.name: duplicate service "${s.name}"`);
    if (s.plan !== undefined && !plans.has(s.plan)) errors.push(`${at}.plan: unknown plan "${s.plan}"`);
    const compiled = compileService(s, errors, at);
    services.set(s.name, compiled);
    const prefix = s.match.path_prefix ?? '/';
    const matchKey = `${s.match.host ?? '*'} ${prefix}`;
    const other = matchKeys.get(matchKey);
    if (other !== undefined) errors.push(`${at}.match: same host and path_prefix as service "${other}"; a request could not tell them apart`);
    matchKeys.set(matchKey, s.name);
    candidates.push({ service: compiled, ...(s.match.host ? { host: s.match.host } : {}), prefix });
  });
  candidates.sort(compareMatchOrder);

  return Object.freeze({
    spec,
    plans,
    issuers: spec.issuers,
    services,
    matchRoute(host: string, path: string, method: string, hints?: Readonly<Record<string, string>>): RouteMatch {
      const serviceHint = hints?.['service'];
      if (serviceHint !== undefined) {
        const service = services.get(serviceHint);
        const route = service && selectRoute(service, path, method, hints?.['route']);
        return service && route ? { kind: 'matched', service, route } : { kind: 'no_route' };
      }
      for (const c of candidates) {
        if (hostMatches(c.host, host) && pathHasPrefix(path, c.prefix)) {
          const route = selectRoute(c.service, path, method, hints?.['route']);
          return route ? { kind: 'matched', service: c.service, route } : { kind: 'no_route' };
        }
      }
      return { kind: 'no_route' };
    },
  });
}

/** Validate and compile a catalog document (the sync protocol's catalog JSON); every problem at once. */
export function compileCatalog(input: unknown): CatalogResult {
  const parsed = CatalogSchema.safeParse(input);
  if (!parsed.success) return { ok: false, errors: parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
  const errors: string[] = [];
  const catalog = buildCatalog(parsed.data, errors);
  return errors.length > 0 ? { ok: false, errors } : { ok: true, catalog };
}

/** One frozen state object from a catalog and the consumer/key indexes, at a revision. */
export function assembleState(revision: number, catalog: CompiledCatalog, indexes: PrincipalIndexes): CompiledState {
  return Object.freeze({
    revision,
    catalog: catalog.spec,
    plans: catalog.plans,
    issuers: catalog.issuers,
    services: catalog.services,
    consumers: indexes.consumers,
    keysByHash: indexes.keysByHash,
    keyCount: indexes.keyCount,
    consumerBySubject: (issuer: string, subject: string) => indexes.consumerBySubject(issuer, subject),
    matchRoute: catalog.matchRoute,
  });
}

export function compileState(input: unknown): CompileResult {
  const parsed = StateSchema.safeParse(input);
  if (!parsed.success) {
    return { ok: false, errors: parsed.error.issues.map((i) => `${formatPath(i.path)}: ${i.message}`) };
  }
  const spec = parsed.data;
  const errors: string[] = [];
  const catalog = buildCatalog({ plans: spec.plans, issuers: spec.issuers, services: spec.services }, errors);
  const requirePlan = (name: string | undefined, at: string) => {
    if (name !== undefined && !catalog.plans.has(name)) errors.push(`${at}: unknown plan "${name}"`);
  };

  const consumers = new Map<string, ConsumerSpec>();
  const bySubject = new Map<string, ConsumerSpec>();
  spec.consumers.forEach((c, i) => {
    if (consumers.has(c.id)) errors.push(`consumers[${i}].id: duplicate consumer "${c.id}"`);
    requirePlan(c.plan, `consumers[${i}].plan`);
    consumers.set(c.id, c);
    c.subjects.forEach((s, j) => {
      const k = subjectKey(s.issuer, s.sub);
      if (bySubject.has(k)) errors.push(`consumers[${i}].subjects[${j}]: subject already belongs to consumer "${bySubject.get(k)!.id}"`);
      bySubject.set(k, c);
    });
  });

  const keysByHash = new Map<string, KeySecretEntry>();
  const keyIds = new Set<string>();
  spec.keys.forEach((k: KeySpec, i) => {
    const at = `keys[${i}]`;
    if (keyIds.has(k.id)) errors.push(`${at}.id: duplicate key id "${k.id}"`);
    keyIds.add(k.id);
    if (!consumers.has(k.consumer_id)) errors.push(`${at}.consumer_id: unknown consumer "${k.consumer_id}"`);
    requirePlan(k.plan, `${at}.plan`);
    k.services.forEach((name, j) => {
      if (!catalog.services.has(name)) errors.push(`${at}.services[${j}]: unknown service "${name}"`);
    });
    const compiled = compileKey(k);
    k.secrets.forEach((secret, j) => {
      if (keysByHash.has(secret.hash)) errors.push(`${at}.secrets[${j}].hash: the same secret belongs to another key`);
      const notAfterMs = isoToMs(secret.not_after);
      keysByHash.set(secret.hash, Object.freeze(notAfterMs === undefined ? { key: compiled } : { key: compiled, notAfterMs }));
    });
  });

  if (errors.length > 0) return { ok: false, errors };
  return {
    ok: true,
    state: assembleState(spec.revision, catalog, {
      consumers,
      keysByHash,
      keyCount: keyIds.size,
      consumerBySubject: (issuer, subject) => bySubject.get(subjectKey(issuer, subject)),
    }),
  };
}

function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const p of path) out += typeof p === 'number' ? `[${p}]` : out === '' ? String(p) : `.${String(p)}`;
  return out === '' ? '(root)' : out;
}

/** Parse-only helper for callers that hold an already-valid spec (the control plane's export). */
export function emptyState(): CompiledState {
  const result = compileState({});
  if (!result.ok) throw new Error('empty state must compile');
  return result.state;
}

