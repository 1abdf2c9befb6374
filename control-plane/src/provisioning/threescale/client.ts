/**
 * A client for the 3scale Account Management (Admin) API, for the calls provisioning makes
 * (shared/notes/3scale-keycloak-kms.md §1):
 *
 * - every path ends in `.json`; requests go to the configured admin URL with the tenant's admin host in
 *   `Host` (porta finds the tenant from it);
 * - `access_token` as a query parameter on GET/DELETE and a form field on POST/PUT, as the spec documents;
 * - single resources arrive wrapped in their type name, lists as wrapper arrays; lists are paged with
 *   `per_page` up to 500 (plan limits: 50), following `metadata` only when the server sends it;
 * - 201 on create, 200 with an empty body on delete; a 404 is `{"status":"Not found"}` and is returned as
 *   "absent" where absence is an answer; a 422 `{"errors":{field:[msg]}}` becomes a validation problem.
 *
 * Failures become ProblemErrors the API answers with: unreachable, reset or timed out → dependency_unavailable
 * (503); any other unexpected answer → upstream_provider_error (502). Neither the token nor a response body
 * ever reaches an error message or a log line.
 */
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { z } from 'zod';
import { ProblemError, type FieldError } from '../../problem-error.js';
import type { ThreescaleConnection } from './config.js';

export const MAX_PER_PAGE = 500;
export const MAX_LIMITS_PER_PAGE = 50;
const MAX_RESPONSE_BYTES = 16 * 1024 * 1024;
/** A runaway `total_pages` must not loop forever: 2,000 pages of 500 is a million applications. */
const MAX_PAGES = 2_000;

const id = z.union([z.number().int(), z.string().min(1)]).transform(String);

const ApplicationSchema = z.object({
  id,
  state: z.string(),
  service_id: id,
  plan_id: id,
  account_id: id,
  name: z.string().nullish(),
  user_key: z.string().min(1).nullish(),
});
export type ThreescaleApplication = z.output<typeof ApplicationSchema>;

const AccountSchema = z.object({ id, org_name: z.string().nullish(), state: z.string().nullish() });
export type ThreescaleAccount = z.output<typeof AccountSchema>;

const PlanSchema = z.object({ id, name: z.string(), system_name: z.string().nullish(), default: z.boolean().nullish(), state: z.string().nullish() });
export type ThreescalePlan = z.output<typeof PlanSchema>;

const ServiceSchema = z.object({ id, name: z.string(), system_name: z.string().nullish(), backend_version: z.union([z.string(), z.number()]).nullish() });
export type ThreescaleService = z.output<typeof ServiceSchema>;

const MetricSchema = z.object({ id, system_name: z.string() });
export type ThreescaleMetric = z.output<typeof MetricSchema>;

const LimitSchema = z.object({ metric_id: id, period: z.string(), value: z.number() });
export type ThreescaleLimit = z.output<typeof LimitSchema>;

const MetadataSchema = z.object({ total_pages: z.number().int(), current_page: z.number().int() });

const ErrorsSchema = z.object({ errors: z.record(z.string(), z.array(z.string())) });
const ErrorSchema = z.object({ error: z.string() });

export interface SignupFields {
  readonly org_name: string;
  readonly username: string;
  readonly email: string;
  readonly password: string;
  readonly application_plan_id?: string;
}

interface Answer {
  readonly status: number;
  readonly body: unknown;
}

type Params = Readonly<Record<string, string | undefined>>;

export class ThreescaleClient {
  constructor(
    readonly connection: ThreescaleConnection,
    /** The Admin API access token, read from the secret store when needed. */
    private readonly accessToken: () => Promise<string>,
  ) {}

  get tenant(): string {
    return this.connection.tenantHost;
  }

  listServices(): Promise<ThreescaleService[]> {
    return this.#pages('list services', '/admin/api/services.json', 'services', 'service', ServiceSchema, MAX_PER_PAGE);
  }

  async serviceMetrics(serviceId: string): Promise<ThreescaleMetric[]> {
    const answer = await this.#call('read metrics', 'GET', `/admin/api/services/${serviceId}/metrics.json`, {}, [200]);
    return this.#list(answer, 'read metrics', 'metrics', 'metric', MetricSchema);
  }

  async applicationPlans(serviceId: string): Promise<ThreescalePlan[]> {
    const answer = await this.#call('read application plans', 'GET', `/admin/api/services/${serviceId}/application_plans.json`, {}, [200]);
    // the one list whose items are not named like the wrapper
    return this.#list(answer, 'read application plans', 'plans', 'application_plan', PlanSchema);
  }

  planLimits(planId: string): Promise<ThreescaleLimit[]> {
    return this.#pages('read plan limits', `/admin/api/application_plans/${planId}/limits.json`, 'limits', 'limit', LimitSchema, MAX_LIMITS_PER_PAGE);
  }

  /** Username takes precedence over email on the server; send one of them. */
  async findAccount(by: { readonly username: string } | { readonly email: string }): Promise<ThreescaleAccount | undefined> {
    const answer = await this.#call('find account', 'GET', '/admin/api/accounts/find.json', by, [200, 404]);
    return answer.status === 404 ? undefined : this.#one(answer, 'find account', 'account', AccountSchema);
  }

  async signup(fields: SignupFields): Promise<ThreescaleAccount> {
    const answer = await this.#call('sign up', 'POST', '/admin/api/signup.json', { ...fields }, [201]);
    return this.#one(answer, 'sign up', 'account', AccountSchema);
  }

  /** Undefined when the account does not exist (any more). Not paginated. */
  async accountApplications(accountId: string): Promise<ThreescaleApplication[] | undefined> {
    const answer = await this.#call('list applications', 'GET', `/admin/api/accounts/${accountId}/applications.json`, {}, [200, 404]);
    return answer.status === 404 ? undefined : this.#list(answer, 'list applications', 'applications', 'application', ApplicationSchema);
  }

  async createApplication(accountId: string, fields: { plan_id: string; name: string; description: string }): Promise<ThreescaleApplication> {
    const answer = await this.#call('create application', 'POST', `/admin/api/accounts/${accountId}/applications.json`, fields, [201]);
    return this.#one(answer, 'create application', 'application', ApplicationSchema);
  }

  async readApplication(accountId: string, applicationId: string): Promise<ThreescaleApplication | undefined> {
    const answer = await this.#call('read application', 'GET', this.#application(accountId, applicationId, ''), {}, [200, 404]);
    return answer.status === 404 ? undefined : this.#one(answer, 'read application', 'application', ApplicationSchema);
  }

  /** There is no "regenerate": the client supplies the new value. */
  async changeUserKey(accountId: string, applicationId: string, userKey: string): Promise<ThreescaleApplication> {
    const answer = await this.#call('change user_key', 'PUT', this.#application(accountId, applicationId, ''), { user_key: userKey }, [200]);
    return this.#one(answer, 'change user_key', 'application', ApplicationSchema);
  }

  async suspend(accountId: string, applicationId: string): Promise<ThreescaleApplication> {
    const answer = await this.#call('suspend application', 'PUT', this.#application(accountId, applicationId, '/suspend'), {}, [200]);
    return this.#one(answer, 'suspend application', 'application', ApplicationSchema);
  }

  async resume(accountId: string, applicationId: string): Promise<ThreescaleApplication> {
    const answer = await this.#call('resume application', 'PUT', this.#application(accountId, applicationId, '/resume'), {}, [200]);
    return this.#one(answer, 'resume application', 'application', ApplicationSchema);
  }

  /** 200 with an empty body; false when it was already gone. */
  async deleteApplication(accountId: string, applicationId: string): Promise<boolean> {
    const answer = await this.#call('delete application', 'DELETE', this.#application(accountId, applicationId, ''), {}, [200, 404]);
    return answer.status === 200;
  }

  listApplications(serviceId: string): Promise<ThreescaleApplication[]> {
    return this.#pages('list applications', '/admin/api/applications.json', 'applications', 'application', ApplicationSchema, MAX_PER_PAGE, { service_id: serviceId });
  }

  #application(accountId: string, applicationId: string, action: string): string {
    return `/admin/api/accounts/${encodeURIComponent(accountId)}/applications/${encodeURIComponent(applicationId)}${action}.json`;
  }

  async #pages<T>(operation: string, path: string, listKey: string, itemKey: string, item: z.ZodType<T>, perPage: number, params: Params = {}): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const answer = await this.#call(operation, 'GET', path, { ...params, page: String(page), per_page: String(perPage) }, [200]);
      const items = this.#list(answer, operation, listKey, itemKey, item);
      out.push(...items);
      // metadata only comes when there is more than one page
      const metadata = MetadataSchema.safeParse((answer.body as Record<string, unknown>)['metadata']);
      if (!metadata.success || metadata.data.current_page >= metadata.data.total_pages || items.length === 0) return out;
    }
    throw new ProblemError('upstream_provider_error', `3scale ${operation}: more than ${MAX_PAGES} pages`);
  }

  #one<T>(answer: Answer, operation: string, key: string, schema: z.ZodType<T>): T {
    const parsed = z.object({ [key]: schema }).safeParse(answer.body);
    if (!parsed.success) throw unexpected(operation, `an answer without a valid "${key}"`);
    return (parsed.data as Record<string, T>)[key]!;
  }

  #list<T>(answer: Answer, operation: string, listKey: string, itemKey: string, schema: z.ZodType<T>): T[] {
    const parsed = z.object({ [listKey]: z.array(z.object({ [itemKey]: schema })) }).safeParse(answer.body);
    if (!parsed.success) throw unexpected(operation, `an answer without a valid "${listKey}" list`);
    return ((parsed.data as Record<string, Record<string, T>[]>)[listKey] ?? []).map((wrapped) => wrapped[itemKey]!);
  }

  async #call(operation: string, method: string, path: string, params: Params, expected: readonly number[]): Promise<Answer> {
    const token = await this.accessToken();
    const fields = new URLSearchParams();
    for (const [k, v] of Object.entries(params)) if (v !== undefined) fields.set(k, v);
    fields.set('access_token', token);
    const hasBody = method === 'POST' || method === 'PUT';
    const url = new URL(this.connection.adminUrl + path);
    if (!hasBody) url.search = fields.toString();
    const body = hasBody ? fields.toString() : undefined;
    let response: { status: number; text: string };
    try {
      response = await send(url, method, this.connection.tenantHost, body, this.connection.timeoutMs);
    } catch (error) {
      throw new ProblemError('dependency_unavailable', `3scale ${operation}: ${networkReason(error, this.connection.timeoutMs)}; try again shortly`);
    }
    const parsed = parseJson(response.text);
    if (expected.includes(response.status)) return { status: response.status, body: parsed };
    throw problemFor(operation, response.status, parsed);
  }
}

function unexpected(operation: string, what: string): ProblemError {
  return new ProblemError('upstream_provider_error', `3scale ${operation}: ${what}`);
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** What a non-expected status means for the caller of Portcullis. */
function problemFor(operation: string, status: number, body: unknown): ProblemError {
  if (status === 422) {
    const errors = ErrorsSchema.safeParse(body);
    if (errors.success) {
      const fields: FieldError[] = Object.entries(errors.data.errors).flatMap(([field, messages]) => messages.map((message) => ({ path: `threescale.${field}`, message })));
      return new ProblemError('validation_failed', `3scale refused to ${operation}: ${fields.map((f) => `${f.path.slice(11)} ${f.message}`).join('; ')}`, fields);
    }
    const error = ErrorSchema.safeParse(body);
    return new ProblemError('validation_failed', `3scale refused to ${operation}${error.success ? `: ${error.data.error}` : ''}`, [{ path: 'threescale', message: error.success ? error.data.error : 'unprocessable' }]);
  }
  if (status === 403) return new ProblemError('upstream_provider_error', `3scale ${operation}: access denied (check the access token's scope and permission, and the tenant host)`);
  if (status === 404) return new ProblemError('upstream_provider_error', `3scale ${operation}: not found in 3scale (check the service and plan mapping)`);
  if (status === 502 || status === 503 || status === 504) return new ProblemError('dependency_unavailable', `3scale ${operation}: 3scale is unavailable (${status}); try again shortly`);
  return new ProblemError('upstream_provider_error', `3scale ${operation}: unexpected answer ${status}`);
}

function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof RequestTimeout) return `no answer within ${timeoutMs} ms`;
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  if (code === 'ECONNREFUSED') return 'connection refused';
  if (code === 'ECONNRESET' || code === 'EPIPE' || code === 'ERR_STREAM_PREMATURE_CLOSE') return 'connection dropped';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'host not found';
  return code !== '' ? `connection failed (${code})` : 'connection failed';
}

class RequestTimeout extends Error {}

/** One request on a fresh connection; `Host` is the tenant, whatever the URL's host is. */
function send(url: URL, method: string, host: string, body: string | undefined, timeoutMs: number): Promise<{ status: number; text: string }> {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { host, accept: 'application/json' };
    if (body !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(Buffer.byteLength(body));
    }
    const req = request(
      url,
      { method, headers, agent: false, ...(url.protocol === 'https:' ? { servername: host.replace(/:\d+$/, '') } : {}) },
      (res: IncomingMessage) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('response too large'));
          else chunks.push(chunk);
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
        res.on('aborted', () => reject(Object.assign(new Error('aborted'), { code: 'ECONNRESET' })));
      },
    );
    req.setTimeout(timeoutMs, () => req.destroy(new RequestTimeout()));
    req.on('error', reject);
    req.end(body);
  });
}
