/**
 * One route definition drives everything about an endpoint: the OpenAPI operation, authentication and
 * authorisation, validation of params, query and body with the same zod schemas the document shows,
 * Idempotency-Key handling, the transaction and its audit rows, and the problem+json for every failure.
 */
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Express, Request, RequestHandler, Response } from 'express';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { z } from 'zod';
import { PROBLEM_CONTENT_TYPE } from '../../../authz-service/src/core/errors.js';
import { normalizeHost, type NormalizedRequest } from '../../../authz-service/src/core/request.js';
import { ProblemSchema } from '../api/common.js';
import { ANONYMOUS_ACTOR, type Actor, type Caller } from '../auth/actor.js';
import type { Authenticator } from '../auth/authenticator.js';
import { ProblemError } from '../problem-error.js';
import type { Settleable } from '../provisioning/external-change.js';
import { claimRequest, completeRequest, hasStoredResponse, IDEMPOTENCY_KEY_PATTERN, requestFingerprint, type IdempotentRequest, type ResponseVault } from '../services/idempotency.js';
import type { RefusalCoalescer } from '../services/refusal-coalescer.js';
import { ensureOwnConsumer } from '../services/self-service.js';
import { inUnitOfWork, type Clock, type UnitOfWork } from '../services/unit-of-work.js';
import { sendProblem, toProblem } from './problem-response.js';
import { requestState } from './request-state.js';
import { parseWith, presentFieldsOnly, rejectHostileStrings } from './validation.js';

/**
 * public: anyone; authenticated: any valid credential; self: a credential that belongs to a consumer
 * (self-service); admin: an administrator; scopes: an administrator or a credential with one of them.
 */
export type Access = 'public' | 'authenticated' | 'self' | 'admin' | { readonly anyScope: readonly string[] };

type Schema = z.ZodType | undefined;
type Out<T extends Schema> = T extends z.ZodType ? z.output<T> : Record<string, never>;

export interface Reply {
  readonly status?: number;
  readonly body?: unknown;
  readonly headers?: Readonly<Record<string, string>>;
}

export interface QueryContext<P extends Schema, Q extends Schema> {
  readonly params: Out<P>;
  readonly query: Out<Q>;
  readonly caller: Caller;
  /** The caller's own consumer on `self` routes; '' elsewhere. */
  readonly consumerId: string;
  readonly db: Knex;
  readonly now: Date;
}

export interface PrepareContext<P extends Schema, Q extends Schema, B extends Schema> extends QueryContext<P, Q> {
  readonly body: Out<B>;
}

export interface MutationContext<P extends Schema, Q extends Schema, B extends Schema, R extends Settleable | undefined = undefined> extends PrepareContext<P, Q, B> {
  readonly uow: UnitOfWork;
  /** What `prepare` returned (undefined when the route has none, or on an Idempotency-Key replay). */
  readonly prepared: R | undefined;
}

export interface SuccessAnswer {
  readonly status: number;
  readonly description: string;
  readonly schema?: z.ZodType;
  /** Default application/json. Any other type is sent as the handler's string body, unchanged. */
  readonly contentType?: string;
}

interface RouteBase<P extends Schema, Q extends Schema, B extends Schema> {
  /** OpenAPI operationId and the audit action. */
  readonly operationId: string;
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: string;
  readonly access: Access;
  /** Resource type named in audit rows of failed attempts. */
  readonly resourceType?: string;
  readonly params?: P;
  readonly query?: Q;
  readonly body?: B;
  /** The body may be omitted entirely (action endpoints such as revoke). */
  readonly bodyOptional?: boolean;
  /** PATCH semantics: only fields the client sent reach the handler. */
  readonly mergePatch?: boolean;
  /** Honours Idempotency-Key (creating POSTs). */
  readonly idempotent?: boolean;
  readonly success: SuccessAnswer;
  /** Other success answers the handler may choose (get-or-create: 200 when it only gets). */
  readonly alsoSucceeds?: readonly SuccessAnswer[];
  /** Documented error statuses besides the ones every operation can answer. */
  readonly errors?: readonly number[];
}

export interface QueryRoute<P extends Schema = Schema, Q extends Schema = Schema> extends RouteBase<P, Q, undefined> {
  readonly method: 'get';
  readonly handler: (ctx: QueryContext<P, Q>) => Promise<Reply>;
}

export interface MutationRoute<P extends Schema = Schema, Q extends Schema = Schema, B extends Schema = Schema, R extends Settleable | undefined = undefined>
  extends RouteBase<P, Q, B> {
  readonly method: 'post' | 'patch' | 'delete';
  /**
   * Runs after validation and before the transaction, for work in an external system (3scale). Its result
   * reaches the handler and is settled once the transaction is over: kept if the transaction committed and
   * used it, undone otherwise, before the response is sent. Skipped for an Idempotency-Key replay.
   */
  readonly prepare?: (ctx: PrepareContext<P, Q, B>) => Promise<R>;
  readonly handler: (ctx: MutationContext<P, Q, B, R>) => Promise<Reply>;
}

export type Route = QueryRoute<any, any> | MutationRoute<any, any, any, any>;

export const query = <P extends Schema = undefined, Q extends Schema = undefined>(route: QueryRoute<P, Q>): Route => route as Route;
export const mutation = <P extends Schema = undefined, Q extends Schema = undefined, B extends Schema = undefined, R extends Settleable | undefined = undefined>(
  route: MutationRoute<P, Q, B, R>,
): Route => route as Route;

export interface RouteDeps {
  readonly db: Knex;
  readonly authenticator: Authenticator;
  readonly vault: ResponseVault;
  readonly logger: Logger;
  readonly clock: Clock;
  /** Audits failed and refused attempts, coalescing repeats so refusals cannot flood the audit log. */
  readonly refusals: RefusalCoalescer;
  /** Parses a JSON body with the configured size limit. */
  readonly parseJson: RequestHandler;
}

const JSON_TYPE = 'application/json';

const expressPath = (path: string) => path.replace(/\{([A-Za-z0-9_]+)\}/g, ':$1');

function hasBody(req: Request): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

function isJson(req: Request): boolean {
  return req.is(['application/json', 'application/*+json']) !== false && req.is(['application/json', 'application/*+json']) !== null;
}

function normalizedRequest(req: Request): NormalizedRequest {
  const headers: Record<string, string> = {};
  for (const name of ['authorization', 'x-api-key']) {
    const value = req.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  return {
    method: req.method,
    scheme: req.protocol === 'https' ? 'https' : 'http',
    host: normalizeHost(req.headers.host),
    path: req.path,
    query: '',
    clientIp: req.ip ?? '',
    headers,
    adapter: 'control_plane',
  };
}

function permits(access: Access, actor: Actor): boolean {
  if (access === 'admin') return actor.admin;
  if (typeof access === 'object') return actor.admin || access.anyScope.some((s) => actor.grants.has(s));
  return true;
}

async function readBody(req: Request, res: Response, route: Route, parseJson: RequestHandler): Promise<unknown> {
  if (!hasBody(req)) {
    if (route.body && !route.bodyOptional) throw new ProblemError('validation_failed', 'a JSON request body is required', [{ path: 'body', message: 'required' }]);
    return route.body ? {} : undefined;
  }
  if (!isJson(req)) throw new ProblemError('unsupported_media_type', 'send the request body as application/json');
  await new Promise<void>((resolve, reject) => parseJson(req, res, (error?: unknown) => (error ? reject(error) : resolve())));
  return req.body as unknown;
}

export function mountRoute(app: Express, route: Route, deps: RouteDeps): void {
  const isMutation = route.method !== 'get';
  app[route.method](expressPath(route.path), async (req: Request, res: Response) => {
    const state = requestState(req);
    state.route = route.path;
    let caller: Caller = {
      actor: ANONYMOUS_ACTOR,
      requestId: state.id,
      ...(req.ip !== undefined ? { ip: req.ip } : {}),
      ...(req.get('user-agent') !== undefined ? { userAgent: req.get('user-agent')!.slice(0, 500) } : {}),
    };
    let prepared: Settleable | undefined;
    try {
      if (route.access !== 'public') {
        const outcome = await deps.authenticator.authenticate(normalizedRequest(req));
        if (outcome.kind === 'unavailable') throw new ProblemError('dependency_unavailable', outcome.detail);
        if (outcome.kind === 'rejected') throw new ProblemError(outcome.code, outcome.detail, undefined, outcome.headers);
        caller = { ...caller, actor: outcome.actor };
        state.actorId = outcome.actor.id;
        if (!permits(route.access, outcome.actor)) throw new ProblemError('forbidden', 'this operation needs an administrator credential');
      }
      rejectHostileStrings(req.params, 'params');
      rejectHostileStrings(req.query, 'query');
      const params = route.params ? parseWith(route.params, req.params, 'params') : {};
      const queryValues = route.query ? parseWith(route.query, req.query, 'query') : {};
      const rawBody = isMutation ? await readBody(req, res, route, deps.parseJson) : undefined;
      rejectHostileStrings(rawBody, 'body');
      let body = route.body ? parseWith(route.body, rawBody, 'body') : undefined;
      if (route.mergePatch && body !== undefined) body = presentFieldsOnly(body as object, rawBody);
      const consumerId = route.access === 'self' ? await ensureOwnConsumer(deps.db, caller, deps.clock) : '';
      const base = { params, query: queryValues, caller, consumerId, db: deps.db };

      if (route.method === 'get') {
        send(res, route, await route.handler({ ...base, now: new Date(deps.clock()) }));
        return;
      }
      const idempotency = idempotentRequest(req, route, caller, rawBody);
      // a replay answers from the stored response: the external work was done by the first request
      if (route.prepare && !(idempotency !== undefined && (await hasStoredResponse(deps.db, idempotency, new Date(deps.clock()))))) {
        prepared = (await route.prepare({ ...base, body, now: new Date(deps.clock()) })) as Settleable | undefined;
      }
      const { value } = await inUnitOfWork(deps.db, caller, route.operationId, deps.clock, async (uow) => {
        if (idempotency) {
          const claim = await claimRequest(uow.tx, deps.vault, idempotency, uow.now);
          if (claim.kind === 'mismatch') throw new ProblemError('idempotency_conflict', 'this Idempotency-Key was used for a different request');
          if (claim.kind === 'replay') return { status: claim.status, value: { status: claim.status, body: claim.body, headers: { 'idempotent-replayed': 'true' } } };
        }
        const reply = await route.handler({ ...base, body, uow, now: uow.now, prepared });
        const status = reply.status ?? route.success.status;
        if (idempotency) await completeRequest(uow.tx, deps.vault, idempotency, status, reply.body ?? null);
        return { status, value: reply };
      });
      await prepared?.settle(true);
      send(res, route, value);
    } catch (error) {
      // settled (undone) before the answer, so a client that sees the error sees nothing half-made
      await prepared?.settle(false);
      const problem = toProblem(error, deps.logger, state.id);
      if (isMutation || problem.status === 401 || problem.status === 403) {
        await deps.refusals.record(caller, {
          action: route.operationId,
          status: problem.status,
          code: problem.code,
          at: new Date(deps.clock()),
          ...(route.resourceType !== undefined ? { resourceType: route.resourceType } : {}),
          ...(typeof req.params['id'] === 'string' ? { resourceId: req.params['id'].slice(0, 300) } : {}),
        });
      }
      sendProblem(res, problem, state.id);
    }
  });
}

function idempotentRequest(req: Request, route: Route, caller: Caller, body: unknown): IdempotentRequest | undefined {
  const key = req.get('idempotency-key');
  if (!route.idempotent || key === undefined) return undefined;
  if (!IDEMPOTENCY_KEY_PATTERN.test(key)) {
    throw new ProblemError('validation_failed', 'Idempotency-Key must be 1-255 printable ASCII characters', [{ path: 'header.idempotency-key', message: 'invalid' }]);
  }
  return { scope: caller.actor.id, key, fingerprint: requestFingerprint(req.method, req.path, body) };
}

function send(res: Response, route: Route, reply: Reply): void {
  if (res.headersSent) return; // the request timed out meanwhile
  for (const [name, value] of Object.entries(reply.headers ?? {})) res.setHeader(name, value);
  const status = reply.status ?? route.success.status;
  const contentType = [route.success, ...(route.alsoSucceeds ?? [])].find((s) => s.status === status)?.contentType;
  if (status === 204 || reply.body === undefined) res.status(status).end();
  else if (contentType !== undefined && contentType !== JSON_TYPE && typeof reply.body === 'string') res.status(status).type(contentType).send(reply.body);
  else res.status(status).json(reply.body);
}

const COMMON_ERRORS: Record<number, string> = {
  400: 'Invalid parameters or body (field details in `errors`)',
  401: 'Missing or invalid credential',
  403: 'The credential may not do this',
  404: 'Not found',
  409: 'Conflicts with the current state',
  413: 'Body too large',
  415: 'Body is not JSON',
  422: 'Idempotency-Key reused with a different request',
  500: 'Internal error',
  502: 'An external provider (3scale) failed or answered unexpectedly',
  503: 'Timed out or a dependency is unavailable',
};

export function documentRoute(registry: OpenAPIRegistry, route: Route): void {
  const statuses = new Set<number>([400, 500, 503, ...(route.errors ?? [])]);
  if (route.access !== 'public') statuses.add(401);
  if (route.access !== 'public' && route.access !== 'authenticated') statuses.add(403);
  if (route.method !== 'get' && route.body) [413, 415].forEach((s) => statuses.add(s));
  if (route.idempotent) statuses.add(422);
  const responses: RouteConfig['responses'] = {};
  for (const success of [route.success, ...(route.alsoSucceeds ?? [])]) {
    responses[success.status] = {
      description: success.description,
      ...(success.schema ? { content: { [success.contentType ?? JSON_TYPE]: { schema: success.schema } } } : {}),
    };
  }
  for (const status of [...statuses].sort()) {
    responses[status] = { description: COMMON_ERRORS[status] ?? 'Error', content: { [PROBLEM_CONTENT_TYPE]: { schema: ProblemSchema } } };
  }
  registry.registerPath({
    method: route.method,
    path: route.path,
    operationId: route.operationId,
    summary: route.summary,
    ...(route.description ? { description: route.description } : {}),
    tags: [route.tag],
    security: route.access === 'public' ? [] : [{ bearer: [] }],
    request: {
      ...(route.params ? { params: route.params as z.ZodObject } : {}),
      ...(route.query ? { query: route.query as z.ZodObject } : {}),
      ...(route.idempotent ? { headers: z.object({ 'idempotency-key': z.string().max(255).optional() }) } : {}),
      ...(route.body ? { body: { required: !route.bodyOptional, content: { 'application/json': { schema: route.body } } } } : {}),
    },
    responses,
  });
}
