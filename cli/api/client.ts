/**
 * The control plane's REST API as the CLI uses it: bearer credential on every call (renewed once after a
 * 401), problem+json answers mapped to exit codes, cursor pages followed to the end, Idempotency-Key on
 * creates (kept across a retry after a network failure, so a retried create cannot mint twice).
 */
import { randomUUID } from 'node:crypto';
import type { CredentialSource } from '../auth/session.js';
import { CliError, ExitCode } from '../exit.js';
import { type Peer, readJson, send } from '../net/http.js';

export interface RequestOptions {
  readonly body?: unknown;
  readonly query?: Readonly<Record<string, string | undefined>>;
  /** Default true; health probes go without. */
  readonly auth?: boolean;
  /** Send an Idempotency-Key (a fresh one unless given) and retry once with it after a network failure. */
  readonly idempotent?: boolean | string;
  /** Statuses returned as values instead of raised (e.g. 503 from /readyz). */
  readonly accept?: readonly number[];
}

export interface ApiReply<T> {
  readonly status: number;
  readonly body: T;
}

export interface Page<T> {
  readonly items: T[];
  readonly next_cursor: string | null;
}

/** An RFC 9457 body as the control plane sends it. */
interface Problem {
  readonly title?: string;
  readonly detail?: string;
  readonly code?: string;
  readonly errors?: readonly { readonly path: string; readonly message: string }[];
}

export const PAGE_SIZE = 200;

export class ControlPlaneClient {
  readonly #peer: Peer = { name: 'the control plane' };

  constructor(
    readonly baseUrl: string,
    private readonly credentials: CredentialSource,
  ) {}

  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<ApiReply<T>> {
    const url = this.#url(path, options.query);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (options.body !== undefined) headers['content-type'] = 'application/json';
    if (options.idempotent) headers['idempotency-key'] = typeof options.idempotent === 'string' ? options.idempotent : randomUUID();
    const auth = options.auth ?? true;
    let bearer = auth ? await this.credentials.bearer() : undefined;
    let renewed = false;
    let retried = false;
    for (;;) {
      let response: Response;
      try {
        response = await send(this.#peer, url, {
          method,
          headers: bearer === undefined ? headers : { ...headers, authorization: `Bearer ${bearer}` },
          ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
        });
      } catch (error) {
        if (options.idempotent && !retried && error instanceof CliError && error.exitCode === ExitCode.Unreachable) {
          retried = true;
          continue;
        }
        throw error;
      }
      if (response.status === 401 && auth && !renewed) {
        renewed = true;
        await response.arrayBuffer().catch(() => undefined);
        const fresh = await this.credentials.renew();
        if (fresh !== undefined) {
          bearer = fresh;
          continue;
        }
        return this.#fail(url, 401, await readJson(this.#peer, url, response).catch(() => undefined));
      }
      const body = await readJson(this.#peer, url, response);
      if ((response.status >= 200 && response.status < 300) || options.accept?.includes(response.status)) return { status: response.status, body: body as T };
      if (response.status >= 300 && response.status < 400) {
        throw new CliError(ExitCode.Server, `The control plane at ${this.baseUrl} redirects to ${response.headers.get('location') ?? 'elsewhere'}; set PORTCULLIS_URL (or --url) to that address.`);
      }
      return this.#fail(url, response.status, body);
    }
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>('GET', path, options).then((r) => r.body);
  }

  post<T>(path: string, body: unknown = {}, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('POST', path, { ...options, body }).then((r) => r.body);
  }

  /** Every item of a paginated list. */
  async list<T>(path: string, query: Readonly<Record<string, string | undefined>> = {}): Promise<T[]> {
    const items: T[] = [];
    let cursor: string | undefined;
    do {
      const page = await this.get<Page<T>>(path, { query: { ...query, limit: String(PAGE_SIZE), cursor } });
      if (!page || !Array.isArray(page.items)) throw new CliError(ExitCode.Server, `The control plane's answer to ${path} is not a list page.`);
      items.push(...page.items);
      cursor = page.next_cursor ?? undefined;
    } while (cursor !== undefined);
    return items;
  }

  #url(path: string, query: Readonly<Record<string, string | undefined>> = {}): string {
    const url = new URL(this.baseUrl.replace(/\/+$/, '') + path);
    for (const [k, v] of Object.entries(query)) if (v !== undefined) url.searchParams.set(k, v);
    return url.href;
  }

  #fail(url: string, status: number, body: unknown): never {
    const problem = (typeof body === 'object' && body !== null ? body : {}) as Problem;
    const summary = [problem.title, problem.detail].filter((s) => typeof s === 'string' && s !== '').join(': ') || `HTTP ${status}`;
    const fields = (problem.errors ?? []).map((e) => `\n  ${e.path}: ${e.message}`).join('');
    if (status === 401) throw new CliError(ExitCode.Auth, `The control plane did not accept the credential (${summary}); ${this.credentials.remedy}.`);
    if (status === 403) throw new CliError(ExitCode.Auth, `Not allowed: ${summary}.`);
    if (status === 404) throw new CliError(ExitCode.NotFound, `${summary}.`);
    if (status >= 500) throw new CliError(ExitCode.Server, `The control plane failed (HTTP ${status}, ${summary}) on ${new URL(url).pathname}.`);
    throw new CliError(ExitCode.Server, `The control plane refused the request (HTTP ${status}): ${summary}.${fields}`);
  }
}
