/**
 * 3scale Account Management (Admin) API test double: a real HTTP server following the wire contract in
 * shared/notes/3scale-keycloak-kms.md §1 (read from porta's source), for the paths Portcullis uses.
 *
 * - The tenant comes from the Host header: the admin host is served, the developer-portal host gets 403
 *   `{"error":"Access denied"}`, any other host 404.
 * - `access_token` as a query parameter, form field or JSON body field, or HTTP Basic (token as user or
 *   password); `Authorization: Bearer` is not parsed. Missing/unknown token: 403 `{"error":"Access denied"}`;
 *   a read-only token on a write: 403 with the permissions message.
 * - JSON only, and only with the `.json` suffix. Single resources are wrapped in their type name, lists in a
 *   wrapper array (`{"plans":[{"application_plan":…}]}` for plans).
 * - 201 on create, 200 with an empty body on delete, 404 `{"status":"Not found"}`, 422 `{"errors":{…}}`,
 *   400 plain text for a missing required parameter.
 * - `page`/`per_page` on the paginated lists (max 500; limits max 50); out-of-range values fall back to the
 *   defaults; `metadata` only when `per_page < total_entries`.
 * - Signup subscribes the account to every service's default application plan and creates an application
 *   named "API signup" there (the given `application_plan_id` replaces its service's default).
 * - Applications are born `live`, or `pending` on a plan with `approval_required` ("Applications require
 *   approval?"), however they are created (Admin API, signup, seeding). porta's state machine
 *   (Contract::States): accept pending → live, suspend live → suspended, resume suspended → live; any other
 *   transition is a 422 `{"errors":{"state":["cannot transition via \"x\""]}}`. The Admin API has no reject
 *   for applications (only for accounts): a pending application ends by being accepted or deleted.
 *
 * Tests seed and change state directly (what a 3scale administrator would do), inject faults into the next
 * calls (5xx, timeouts, dropped connections, before or after the change is applied), take the whole server
 * down, and read a log of every request.
 */
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export const DEFAULT_ADMIN_HOST = 'acme-admin.3scale.test';
export const DEFAULT_DEVELOPER_HOST = 'acme.3scale.test';
export const MAX_PER_PAGE = 500;
export const MAX_LIMITS_PER_PAGE = 50;
const MAX_BODY_BYTES = 1024 * 1024;
const PERMISSIONS_MESSAGE = 'Your access token does not have the correct permissions';

export type AppState = 'live' | 'suspended' | 'pending';
export type BackendVersion = '1' | '2' | 'oidc';
export type LimitPeriod = 'eternity' | 'year' | 'month' | 'week' | 'day' | 'hour' | 'minute';

export interface ServiceRecord {
  readonly id: number;
  name: string;
  system_name: string;
  backend_version: BackendVersion;
  readonly metrics: MetricRecord[];
  readonly created_at: string;
}

export interface MetricRecord {
  readonly id: number;
  readonly service_id: number;
  readonly system_name: string;
  readonly friendly_name: string;
}

export interface LimitRecord {
  readonly id: number;
  readonly metric_id: number;
  period: LimitPeriod;
  value: number;
}

export interface PlanRecord {
  readonly id: number;
  readonly service_id: number;
  name: string;
  system_name: string;
  state: 'published' | 'hidden';
  default: boolean;
  /** "Applications require approval?": new applications on this plan start `pending`. */
  approval_required: boolean;
  readonly limits: LimitRecord[];
  readonly created_at: string;
}

export interface UserRecord {
  readonly id: number;
  readonly username: string;
  readonly email: string;
}

export interface AccountRecord {
  readonly id: number;
  org_name: string;
  state: 'approved' | 'pending';
  readonly users: UserRecord[];
  readonly created_at: string;
}

export interface ApplicationRecord {
  readonly id: number;
  readonly account_id: number;
  readonly service_id: number;
  plan_id: number;
  name: string;
  description: string;
  state: AppState;
  user_key?: string;
  application_id?: string;
  readonly provider_verification_key: string;
  readonly created_at: string;
  updated_at: string;
}

export interface RecordedRequest {
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** Form or JSON fields. */
  readonly body: Readonly<Record<string, string>>;
  readonly host: string | undefined;
  readonly contentType: string | undefined;
  readonly authorization: string | undefined;
  status?: number;
  fault?: FaultKind;
}

export type FaultKind = 'status' | 'timeout' | 'drop';

export interface Fault {
  readonly kind: FaultKind;
  /** For `status`: default 500. */
  readonly status?: number;
  /** `before` (default): nothing is applied. `after`: the call takes effect, then its answer is lost. */
  readonly phase?: 'before' | 'after';
  /** Only calls this matches are affected (and counted). */
  readonly match?: (request: RecordedRequest) => boolean;
}

class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: unknown,
  ) {
    super(`3scale double: ${status}`);
  }
}

const notFound = () => new ApiError(404, { status: 'Not found' });
const unprocessable = (errors: Record<string, string[]>) => new ApiError(422, { errors });
/** porta answers a missing required parameter in plain text. */
const missing = (name: string) => new ApiError(400, `Required parameter missing: ${name}`);

/** porta's Contract::States events on applications: one source state each. */
const TRANSITIONS = {
  accept: { from: 'pending', to: 'live' },
  suspend: { from: 'live', to: 'suspended' },
  resume: { from: 'suspended', to: 'live' },
} as const satisfies Record<string, { from: AppState; to: AppState }>;

const USER_KEY = /^[A-Za-z0-9_.-]{1,256}$|^[A-Za-z0-9+=]{1,256}$/;
const USERNAME = /^[A-Za-z0-9_.@-]{3,40}$/;

type Params = Readonly<Record<string, string>>;
interface Call {
  readonly method: string;
  readonly match: RegExpExecArray;
  readonly query: Params;
  readonly body: Params;
  readonly params: Params;
}
type Handler = (call: Call) => { status: number; body?: unknown };
interface RouteDef {
  readonly method: string;
  readonly pattern: RegExp;
  readonly write: boolean;
  readonly handler: Handler;
}

export interface ThreescaleDoubleOptions {
  readonly adminHost?: string;
  readonly developerHost?: string;
  /** A read-write token with the account_management scope; more with addToken. */
  readonly accessToken?: string;
}

export class ThreescaleDouble {
  readonly adminHost: string;
  readonly developerHost: string;
  readonly accessToken: string;
  readonly requests: RecordedRequest[] = [];
  readonly services = new Map<number, ServiceRecord>();
  readonly plans = new Map<number, PlanRecord>();
  readonly accounts = new Map<number, AccountRecord>();
  readonly applications = new Map<number, ApplicationRecord>();
  readonly #tokens = new Map<string, { permission: 'rw' | 'ro'; scopes: readonly string[] }>();
  readonly #faults: Array<{ fault: Fault; remaining: number }> = [];
  readonly #sockets = new Set<Socket>();
  readonly #server: Server;
  readonly #routes: RouteDef[];
  #nextId = 1;
  #port = 0;

  private constructor(options: ThreescaleDoubleOptions) {
    this.adminHost = options.adminHost ?? DEFAULT_ADMIN_HOST;
    this.developerHost = options.developerHost ?? DEFAULT_DEVELOPER_HOST;
    this.accessToken = options.accessToken ?? randomBytes(32).toString('hex');
    this.addToken(this.accessToken, 'rw');
    this.#server = createServer((req, res) => void this.#handle(req, res));
    this.#server.on('connection', (socket) => {
      this.#sockets.add(socket);
      socket.on('close', () => this.#sockets.delete(socket));
    });
    this.#routes = this.#routeTable();
  }

  static async start(options: ThreescaleDoubleOptions = {}): Promise<ThreescaleDouble> {
    const double = new ThreescaleDouble(options);
    await double.#listen(0);
    return double;
  }

  get port(): number {
    return this.#port;
  }

  /** What Portcullis connects to; requests must still carry the admin host in `Host`. */
  get baseUrl(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  async #listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.#server.once('error', reject);
      this.#server.listen(port, '127.0.0.1', () => {
        this.#server.off('error', reject);
        resolve();
      });
    });
    this.#port = (this.#server.address() as AddressInfo).port;
  }

  /** Unreachable: stop listening and cut every open connection (connection refused from now on). */
  async down(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const socket of this.#sockets) socket.destroy();
    await closed;
  }

  /** Back on the same port. */
  async up(): Promise<void> {
    if (!this.#server.listening) await this.#listen(this.#port);
  }

  async stop(): Promise<void> {
    await this.down();
  }

  addToken(value: string, permission: 'rw' | 'ro', scopes: readonly string[] = ['account_management']): void {
    this.#tokens.set(value, { permission, scopes });
  }

  /** The next `count` calls (matching `fault.match`, if given) fail as described. */
  failNext(count: number, fault: Fault): void {
    this.#faults.push({ fault, remaining: count });
  }

  clearFaults(): void {
    this.#faults.length = 0;
  }

  /** Requests whose path matches, e.g. `/applications.json$/`. */
  requestsTo(method: string, path: RegExp): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && path.test(r.path));
  }

  // ── seeding and drift, as a 3scale administrator would do it ─────────────────────────────

  addService(options: { name: string; system_name?: string; backend_version?: BackendVersion }): ServiceRecord {
    const id = this.#id();
    const service: ServiceRecord = {
      id,
      name: options.name,
      system_name: options.system_name ?? options.name.toLowerCase().replace(/[^a-z0-9]+/g, '_'),
      backend_version: options.backend_version ?? '1',
      metrics: [],
      created_at: this.#now(),
    };
    service.metrics.push({ id: this.#id(), service_id: id, system_name: 'hits', friendly_name: 'Hits' });
    this.services.set(id, service);
    return service;
  }

  addPlan(serviceId: number, options: { name: string; system_name?: string; default?: boolean; state?: 'published' | 'hidden'; approval_required?: boolean }): PlanRecord {
    if (!this.services.has(serviceId)) throw new Error(`no service ${serviceId}`);
    const plan: PlanRecord = {
      id: this.#id(),
      service_id: serviceId,
      name: options.name,
      system_name: options.system_name ?? options.name.toLowerCase().replace(/[^a-z0-9]+/g, '_'),
      state: options.state ?? 'published',
      default: options.default ?? false,
      approval_required: options.approval_required ?? false,
      limits: [],
      created_at: this.#now(),
    };
    if (plan.default) for (const p of this.plans.values()) if (p.service_id === serviceId) p.default = false;
    this.plans.set(plan.id, plan);
    return plan;
  }

  /** A limit on the plan's service's `hits` metric (or another metric by system name). */
  addLimit(planId: number, period: LimitPeriod, value: number, metric = 'hits'): LimitRecord {
    const plan = this.plans.get(planId);
    if (!plan) throw new Error(`no plan ${planId}`);
    const metricRecord = this.services.get(plan.service_id)!.metrics.find((m) => m.system_name === metric);
    if (!metricRecord) throw new Error(`no metric ${metric}`);
    const limit: LimitRecord = { id: this.#id(), metric_id: metricRecord.id, period, value };
    plan.limits.push(limit);
    return limit;
  }

  addMetric(serviceId: number, systemName: string): MetricRecord {
    const service = this.services.get(serviceId)!;
    const metric: MetricRecord = { id: this.#id(), service_id: serviceId, system_name: systemName, friendly_name: systemName };
    service.metrics.push(metric);
    return metric;
  }

  addAccount(options: { org_name: string; username: string; email: string }): AccountRecord {
    const account: AccountRecord = {
      id: this.#id(),
      org_name: options.org_name,
      state: 'approved',
      users: [{ id: this.#id(), username: options.username, email: options.email }],
      created_at: this.#now(),
    };
    this.accounts.set(account.id, account);
    return account;
  }

  addApplication(accountId: number, planId: number, options: { name?: string; state?: AppState; user_key?: string } = {}): ApplicationRecord {
    const plan = this.plans.get(planId);
    if (!plan || !this.accounts.has(accountId)) throw new Error('no such plan or account');
    return this.#createApplication(accountId, plan, { name: options.name ?? 'App', description: '', ...(options.user_key ? { user_key: options.user_key } : {}) }, options.state);
  }

  /** A 3scale administrator accepts a pending application (the same transition as the accept endpoint). */
  acceptApplication(id: number): ApplicationRecord {
    const app = this.applications.get(id);
    if (!app) throw new Error(`no application ${id}`);
    this.#transition(app, 'accept');
    return app;
  }

  /** Drift made in 3scale behind Portcullis' back. */
  changeApplication(id: number, patch: Partial<Pick<ApplicationRecord, 'state' | 'user_key' | 'plan_id' | 'name'>>): ApplicationRecord {
    const app = this.applications.get(id);
    if (!app) throw new Error(`no application ${id}`);
    Object.assign(app, patch, { updated_at: this.#now() });
    return app;
  }

  removeApplication(id: number): void {
    this.applications.delete(id);
  }

  applicationsOf(accountId: number): ApplicationRecord[] {
    return [...this.applications.values()].filter((a) => a.account_id === accountId);
  }

  findAccountByUsername(username: string): AccountRecord | undefined {
    return [...this.accounts.values()].find((a) => a.users.some((u) => u.username === username));
  }

  // ── HTTP ─────────────────────────────────────────────────────────────────────────────

  #id(): number {
    return this.#nextId++;
  }

  #now(): string {
    return new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
  }

  #link(path: string): string {
    return `https://${this.adminHost}${path}`;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://double');
    const query = Object.fromEntries(url.searchParams);
    let raw: string;
    try {
      raw = await readBody(req);
    } catch {
      res.destroy();
      return;
    }
    const body = parseBody(req.headers['content-type'], raw);
    const record: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query,
      body,
      host: req.headers.host,
      contentType: req.headers['content-type'],
      authorization: req.headers.authorization,
    };
    this.requests.push(record);

    const fault = this.#takeFault(record);
    if (fault && (fault.phase ?? 'before') === 'before') {
      this.#applyFault(fault, record, res);
      return;
    }
    const answer = this.#answer(record);
    record.status = answer.status;
    if (fault) {
      this.#applyFault(fault, record, res);
      return;
    }
    if (answer.body === undefined) {
      res.writeHead(answer.status, { 'content-length': '0', 'content-type': 'application/json; charset=utf-8' }).end();
    } else if (typeof answer.body === 'string') {
      res.writeHead(answer.status, { 'content-type': 'text/plain; charset=utf-8' }).end(answer.body);
    } else {
      res.writeHead(answer.status, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(answer.body));
    }
  }

  #takeFault(request: RecordedRequest): Fault | undefined {
    const index = this.#faults.findIndex((f) => f.remaining > 0 && (f.fault.match?.(request) ?? true));
    if (index === -1) return undefined;
    const entry = this.#faults[index]!;
    entry.remaining -= 1;
    if (entry.remaining === 0) this.#faults.splice(index, 1);
    return entry.fault;
  }

  #applyFault(fault: Fault, record: RecordedRequest, res: ServerResponse): void {
    record.fault = fault.kind;
    if (fault.kind === 'drop') {
      res.socket?.destroy();
    } else if (fault.kind === 'status') {
      const status = fault.status ?? 500;
      record.status = status;
      res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end('<html><body><h1>We\'re sorry, but something went wrong.</h1></body></html>');
    }
    // timeout: never answer; the socket is cut when the double goes down
  }

  #answer(request: RecordedRequest): { status: number; body?: unknown } {
    const host = (request.host ?? '').replace(/:\d+$/, '').toLowerCase();
    if (host === this.developerHost) return { status: 403, body: { error: 'Access denied' } };
    if (host !== this.adminHost) return { status: 404, body: { status: 'Not found' } };

    const route = this.#routes.find((r) => r.method === request.method && r.pattern.test(request.path));
    if (!route) return { status: 404, body: { status: 'Not found' } };

    const token = accessTokenOf(request);
    const grant = token === undefined ? undefined : this.#tokens.get(token);
    if (!grant) return { status: 403, body: { error: 'Access denied' } };
    if (!grant.scopes.includes('account_management') || (route.write && grant.permission !== 'rw')) return { status: 403, body: { error: PERMISSIONS_MESSAGE } };

    const params = { ...request.query, ...request.body };
    try {
      return route.handler({ method: request.method, match: route.pattern.exec(request.path)!, query: request.query, body: request.body, params });
    } catch (error) {
      if (error instanceof ApiError) return { status: error.status, body: error.body };
      throw error;
    }
  }

  #routeTable(): RouteDef[] {
    const get = (pattern: RegExp, handler: Handler): RouteDef => ({ method: 'GET', pattern, write: false, handler });
    const write = (method: string, pattern: RegExp, handler: Handler): RouteDef => ({ method, pattern, write: true, handler });
    const id = '(\\d+)';
    const app = new RegExp(`^/admin/api/accounts/${id}/applications/${id}`);
    return [
      get(/^\/admin\/api\/services\.json$/, ({ params }) => ({
        status: 200,
        body: paginate('services', [...this.services.values()].map((s) => ({ service: this.#service(s) })), params, MAX_PER_PAGE),
      })),
      get(new RegExp(`^/admin/api/services/${id}/metrics\\.json$`), ({ match }) => {
        const service = this.#requireService(match[1]!);
        return { status: 200, body: { metrics: service.metrics.map((m) => ({ metric: this.#metric(m) })) } };
      }),
      get(new RegExp(`^/admin/api/services/${id}/application_plans\\.json$`), ({ match }) => {
        const service = this.#requireService(match[1]!);
        const plans = [...this.plans.values()].filter((p) => p.service_id === service.id);
        return { status: 200, body: { plans: plans.map((p) => ({ application_plan: this.#plan(p) })) } };
      }),
      get(new RegExp(`^/admin/api/application_plans/${id}/limits\\.json$`), ({ match, params }) => {
        const plan = this.plans.get(Number(match[1]));
        if (!plan) throw notFound();
        return { status: 200, body: paginate('limits', plan.limits.map((l) => ({ limit: this.#limit(plan, l) })), params, MAX_LIMITS_PER_PAGE) };
      }),
      get(/^\/admin\/api\/accounts\/find\.json$/, ({ params }) => {
        // username wins over email: a username that matches nobody is a 404 even if the email would match
        const accounts = [...this.accounts.values()];
        let found: AccountRecord | undefined;
        if (params['username'] !== undefined) found = accounts.find((a) => a.users.some((u) => u.username === params['username']));
        else if (params['email'] !== undefined) found = accounts.find((a) => a.users.some((u) => u.email === params['email']));
        else if (params['user_id'] !== undefined) found = accounts.find((a) => a.users.some((u) => String(u.id) === params['user_id']));
        if (!found) throw notFound();
        return { status: 200, body: { account: this.#account(found) } };
      }),
      get(new RegExp(`^/admin/api/accounts/${id}\\.json$`), ({ match }) => ({ status: 200, body: { account: this.#account(this.#requireAccount(match[1]!)) } })),
      write('POST', /^\/admin\/api\/signup\.json$/, ({ params }) => this.#signup(params)),
      get(new RegExp(`^/admin/api/accounts/${id}/applications\\.json$`), ({ match, params }) => {
        const account = this.#requireAccount(match[1]!);
        const apps = this.applicationsOf(account.id).filter((a) => params['state'] === undefined || a.state === params['state']);
        return { status: 200, body: { applications: apps.map((a) => ({ application: this.#application(a) })) } };
      }),
      write('POST', new RegExp(`^/admin/api/accounts/${id}/applications\\.json$`), ({ match, params }) => {
        const account = this.#requireAccount(match[1]!);
        if (params['plan_id'] === undefined) throw missing('plan_id');
        const plan = this.plans.get(Number(params['plan_id']));
        if (!plan) throw notFound();
        if (params['name'] === undefined || params['name'].trim() === '') throw unprocessable({ name: ["can't be blank"] });
        const created = this.#createApplication(account.id, plan, {
          name: params['name'],
          description: params['description'] ?? '',
          ...(params['user_key'] !== undefined ? { user_key: params['user_key'] } : {}),
        });
        return { status: 201, body: { application: this.#application(created) } };
      }),
      get(new RegExp(`${app.source}\\.json$`), ({ match }) => ({ status: 200, body: { application: this.#application(this.#requireApplication(match)) } })),
      write('PUT', new RegExp(`${app.source}\\.json$`), ({ match, params }) => {
        const application = this.#requireApplication(match);
        if (params['user_key'] !== undefined && params['user_key'] !== application.user_key) this.#checkUserKey(application.service_id, params['user_key']);
        if (params['name'] !== undefined && params['name'].trim() === '') throw unprocessable({ name: ["can't be blank"] });
        if (params['user_key'] !== undefined) application.user_key = params['user_key'];
        if (params['name'] !== undefined) application.name = params['name'];
        if (params['description'] !== undefined) application.description = params['description'];
        application.updated_at = this.#now();
        return { status: 200, body: { application: this.#application(application) } };
      }),
      write('DELETE', new RegExp(`${app.source}\\.json$`), ({ match }) => {
        this.applications.delete(this.#requireApplication(match).id);
        return { status: 200 };
      }),
      write('PUT', new RegExp(`${app.source}/suspend\\.json$`), ({ match }) => this.#transition(this.#requireApplication(match), 'suspend')),
      write('PUT', new RegExp(`${app.source}/resume\\.json$`), ({ match }) => this.#transition(this.#requireApplication(match), 'resume')),
      write('PUT', new RegExp(`${app.source}/accept\\.json$`), ({ match }) => this.#transition(this.#requireApplication(match), 'accept')),
      get(/^\/admin\/api\/applications\.json$/, ({ params }) => {
        const apps = [...this.applications.values()]
          .filter((a) => params['service_id'] === undefined || String(a.service_id) === params['service_id'])
          .filter((a) => params['plan_id'] === undefined || String(a.plan_id) === params['plan_id'])
          .sort((a, b) => a.id - b.id);
        return { status: 200, body: paginate('applications', apps.map((a) => ({ application: this.#application(a) })), params, MAX_PER_PAGE) };
      }),
      get(/^\/admin\/api\/applications\/find\.json$/, ({ params }) => {
        const found = [...this.applications.values()].find(
          (a) =>
            (params['service_id'] === undefined || String(a.service_id) === params['service_id']) &&
            ((params['application_id'] !== undefined && String(a.id) === params['application_id']) ||
              (params['user_key'] !== undefined && a.user_key === params['user_key']) ||
              (params['app_id'] !== undefined && a.application_id === params['app_id'])),
        );
        if (!found) throw notFound();
        return { status: 200, body: { application: this.#application(found) } };
      }),
    ];
  }

  #signup(params: Params): { status: number; body: unknown } {
    const errors: Record<string, string[]> = {};
    for (const field of ['org_name', 'username', 'email', 'password']) {
      if (params[field] === undefined || params[field].trim() === '') errors[field] = ["can't be blank"];
    }
    const users = [...this.accounts.values()].flatMap((a) => a.users);
    if (params['username'] !== undefined && !errors['username']) {
      if (!USERNAME.test(params['username'])) errors['username'] = ['is invalid'];
      else if (users.some((u) => u.username === params['username'])) errors['username'] = ['has already been taken'];
    }
    if (params['email'] !== undefined && !errors['email'] && users.some((u) => u.email === params['email'])) errors['email'] = ['has already been taken'];
    let chosen: PlanRecord | undefined;
    if (params['application_plan_id'] !== undefined) {
      chosen = this.plans.get(Number(params['application_plan_id']));
      if (!chosen) throw notFound();
    }
    if (Object.keys(errors).length > 0) throw unprocessable(errors);
    const account = this.addAccount({ org_name: params['org_name']!, username: params['username']!, email: params['email']! });
    // plans_with_defaults: every service's default application plan, the chosen one replacing its service's
    for (const service of this.services.values()) {
      const plan = chosen?.service_id === service.id ? chosen : [...this.plans.values()].find((p) => p.service_id === service.id && p.default);
      if (plan) this.#createApplication(account.id, plan, { name: 'API signup', description: 'API signup' });
    }
    // the JSON answer carries neither users nor applications
    return { status: 201, body: { account: this.#account(account) } };
  }

  #createApplication(
    accountId: number,
    plan: PlanRecord,
    fields: { name: string; description: string; user_key?: string },
    // porta's accept_on_create: accepted at once unless the plan requires approval
    state: AppState = plan.approval_required ? 'pending' : 'live',
  ): ApplicationRecord {
    const service = this.services.get(plan.service_id)!;
    if (fields.user_key !== undefined) this.#checkUserKey(service.id, fields.user_key);
    const now = this.#now();
    const app: ApplicationRecord = {
      id: this.#id(),
      account_id: accountId,
      service_id: service.id,
      plan_id: plan.id,
      name: fields.name,
      description: fields.description,
      state,
      provider_verification_key: randomBytes(16).toString('hex'),
      created_at: now,
      updated_at: now,
      // porta: SecureRandom.hex(16) when no custom key is given
      ...(service.backend_version === '1' ? { user_key: fields.user_key ?? randomBytes(16).toString('hex') } : { application_id: randomBytes(4).toString('hex') }),
    };
    this.applications.set(app.id, app);
    return app;
  }

  #checkUserKey(serviceId: number, userKey: string): void {
    if (!USER_KEY.test(userKey)) throw unprocessable({ user_key: ['is invalid'] });
    if ([...this.applications.values()].some((a) => a.service_id === serviceId && a.user_key === userKey)) {
      throw unprocessable({ user_key: ['has already been taken'] });
    }
  }

  #transition(app: ApplicationRecord, event: keyof typeof TRANSITIONS): { status: number; body: unknown } {
    const { from, to } = TRANSITIONS[event];
    if (app.state !== from) throw unprocessable({ state: [`cannot transition via "${event}"`] });
    app.state = to;
    app.updated_at = this.#now();
    return { status: 200, body: { application: this.#application(app) } };
  }

  #requireService(id: string): ServiceRecord {
    const service = this.services.get(Number(id));
    if (!service) throw notFound();
    return service;
  }

  #requireAccount(id: string): AccountRecord {
    const account = this.accounts.get(Number(id));
    if (!account) throw notFound();
    return account;
  }

  #requireApplication(match: RegExpExecArray): ApplicationRecord {
    const app = this.applications.get(Number(match[2]));
    if (!app || app.account_id !== Number(match[1])) throw notFound();
    return app;
  }

  // ── representations (cinstance_representer and friends) ──────────────────────────────

  #service(s: ServiceRecord) {
    return {
      id: s.id,
      name: s.name,
      state: 'incomplete',
      system_name: s.system_name,
      backend_version: s.backend_version,
      deployment_option: 'hosted',
      description: '',
      created_at: s.created_at,
      updated_at: s.created_at,
      links: [{ rel: 'self', href: this.#link(`/admin/api/services/${s.id}`) }],
    };
  }

  #metric(m: MetricRecord) {
    return {
      id: m.id,
      name: m.system_name,
      system_name: m.system_name,
      friendly_name: m.friendly_name,
      description: null,
      unit: 'hit',
      created_at: this.#now(),
      updated_at: this.#now(),
      links: [{ rel: 'service', href: this.#link(`/admin/api/services/${m.service_id}`) }],
    };
  }

  #plan(p: PlanRecord) {
    return {
      id: p.id,
      name: p.name,
      state: p.state,
      setup_fee: 0.0,
      cost_per_month: 0.0,
      trial_period_days: 0,
      cancellation_period: 0,
      approval_required: p.approval_required,
      default: p.default,
      custom: false,
      system_name: p.system_name,
      created_at: p.created_at,
      updated_at: p.created_at,
      links: [
        { rel: 'service', href: this.#link(`/admin/api/services/${p.service_id}`) },
        { rel: 'self', href: this.#link(`/admin/api/application_plans/${p.id}`) },
      ],
    };
  }

  #limit(plan: PlanRecord, l: LimitRecord) {
    return {
      id: l.id,
      period: l.period,
      value: l.value,
      metric_id: l.metric_id,
      plan_id: plan.id,
      created_at: plan.created_at,
      updated_at: plan.created_at,
      links: [{ rel: 'metric', href: this.#link(`/admin/api/services/${plan.service_id}/metrics/${l.metric_id}`) }],
    };
  }

  #account(a: AccountRecord) {
    return {
      id: a.id,
      created_at: a.created_at,
      updated_at: a.created_at,
      credit_card_stored: false,
      monthly_billing_enabled: true,
      monthly_charging_enabled: true,
      state: a.state,
      links: [
        { rel: 'self', href: this.#link(`/admin/api/accounts/${a.id}`) },
        { rel: 'users', href: this.#link(`/admin/api/accounts/${a.id}/users`) },
      ],
      org_name: a.org_name,
    };
  }

  #application(a: ApplicationRecord) {
    const service = this.services.get(a.service_id);
    const plan = this.plans.get(a.plan_id);
    const account = this.accounts.get(a.account_id);
    return {
      id: a.id,
      state: a.state,
      enabled: a.state === 'live',
      end_user_required: false,
      created_at: a.created_at,
      updated_at: a.updated_at,
      service_id: a.service_id,
      service_name: service?.name,
      plan_id: a.plan_id,
      plan_name: plan?.name,
      account_id: a.account_id,
      org_name: account?.org_name,
      first_traffic_at: null,
      first_daily_traffic_at: null,
      ...(a.user_key !== undefined ? { user_key: a.user_key, provider_verification_key: a.provider_verification_key } : { application_id: a.application_id }),
      links: [
        { rel: 'self', href: this.#link(`/admin/api/accounts/${a.account_id}/applications/${a.id}`) },
        { rel: 'service', href: this.#link(`/admin/api/services/${a.service_id}`) },
        { rel: 'account', href: this.#link(`/admin/api/accounts/${a.account_id}`) },
        { rel: 'plan', href: this.#link(`/admin/api/services/${a.service_id}/application_plans/${a.plan_id}`) },
      ],
      name: a.name,
      description: a.description,
    };
  }
}

/** porta's pagination filter: bad values fall back to the defaults; metadata only when there is more than one page. */
export function paginate(name: string, items: readonly unknown[], params: Params, maxPerPage: number): Record<string, unknown> {
  const requestedPerPage = Number(params['per_page']);
  const perPage = Number.isInteger(requestedPerPage) && requestedPerPage >= 1 && requestedPerPage <= maxPerPage ? requestedPerPage : maxPerPage;
  const requestedPage = Number(params['page']);
  const page = Number.isInteger(requestedPage) && requestedPage >= 1 ? requestedPage : 1;
  const slice = items.slice((page - 1) * perPage, page * perPage);
  const out: Record<string, unknown> = { [name]: slice };
  if (perPage < items.length) {
    out['metadata'] = { per_page: perPage, total_entries: items.length, total_pages: Math.ceil(items.length / perPage), current_page: page };
  }
  return out;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) reject(new Error('body too large'));
      else chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/** Rails parses both form bodies (what the spec documents) and JSON bodies. */
function parseBody(contentType: string | undefined, raw: string): Record<string, string> {
  if (raw === '') return {};
  if (contentType?.startsWith('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  if (contentType?.startsWith('application/json')) {
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
        return Object.fromEntries(Object.entries(parsed).map(([k, v]) => [k, String(v)]));
      }
    } catch {
      return {};
    }
  }
  return {};
}

/** by_access_token.rb: params first, then HTTP Basic (token as user or password); Bearer is not parsed. */
function accessTokenOf(request: RecordedRequest): string | undefined {
  const param = request.body['access_token'] ?? request.query['access_token'];
  if (param !== undefined && param !== '') return param;
  const auth = request.authorization;
  if (auth === undefined) return undefined;
  const space = auth.indexOf(' ');
  if (space === -1) return undefined;
  const decoded = Buffer.from(auth.slice(space + 1), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon === -1) return undefined;
  const user = decoded.slice(0, colon);
  const password = decoded.slice(colon + 1);
  return user !== '' ? user : password !== '' ? password : undefined;
}
