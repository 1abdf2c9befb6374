/**
 * The HTTP adapter: Traefik forwardAuth and nginx auth_request call `/forward-auth`; operators and
 * orchestrators call `/healthz`, `/readyz` and `/metrics`.
 *
 * Plain `node:http`, deliberately: express 5 measured 0.16–0.2× the throughput of node:http on this
 * machine size (Node 20), and this endpoint is on every request of every protected service. For the same
 * reason the forward-auth path avoids per-request closures and header objects: headers are written as one
 * flat array in a single `writeHead`, and a connection's trust is decided once, when it is accepted.
 *
 * Nothing a client sends can crash the process: unparsable requests are answered by the clientError
 * handler, a target that cannot be normalised is an `invalid_request` deny, and an engine that throws (a
 * bug) becomes `internal_error` with a log line.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse, STATUS_CODES } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { type Decision, type DenyDecision, denialBody } from '../core/decision.js';
import type { DecisionEngine } from '../core/engine.js';
import { settle } from '../core/maybe-promise.js';
import { catalogEntry, type ErrorCode, problem, PROBLEM_CONTENT_TYPE } from '../core/errors.js';
import { decisionIdGenerator } from '../core/pipeline.js';
import type { IdentityHeaderNames } from '../core/identity-headers.js';
import type { DecisionObserver } from '../observability/decision-observer.js';
import type { Logger } from '../observability/logger.js';
import type { AuthzMetrics } from '../observability/metrics.js';
import { type ForwardAuthCall, normalizeForwardAuthCall } from './forwarded.js';
import type { TrustedProxies } from './trusted-proxies.js';
import { ERROR_CODE_HEADER, FORWARD_AUTH_PATH } from './wire.js';

export interface AuthzHttpServerOptions {
  /** Already wrapped with `observedEngine`, so decisions are counted and logged there. */
  readonly engine: DecisionEngine;
  readonly trustedProxies: TrustedProxies;
  /** For the denials this adapter makes itself, before the engine runs. */
  readonly observer: DecisionObserver;
  readonly metrics: AuthzMetrics;
  readonly logger: Logger;
  readonly identityHeaders: IdentityHeaderNames;
  /** Ready means: a state is loaded (and, in sync mode with PORTCULLIS_STALE_MODE=refuse, not too old). */
  readonly ready: () => boolean;
  /** Extra fields for the /readyz body (revision, staleness …); `reason` explains a 503. */
  readonly readinessDetail?: () => Readonly<Record<string, unknown>>;
  readonly maxHeaderBytes?: number;
}

const TRUSTED = Symbol('portcullis.peerTrusted');
type TaggedSocket = Socket & { [TRUSTED]?: boolean };

/**
 * Longer than the gateways' own idle timeouts (nginx upstream keepalive 60 s, Go's transport 90 s), so the
 * gateway, not we, closes an idle pooled connection; otherwise a request can race our close and fail.
 */
const KEEP_ALIVE_TIMEOUT_MS = 95_000;

const JSON_HEADERS = ['content-type', 'application/json', 'cache-control', 'no-store'];

export class AuthzHttpServer {
  readonly server: Server;
  readonly #options: AuthzHttpServerOptions;
  readonly #decisionIdHeader: string;
  /** Ids for the denials this adapter makes itself (unparsable target, engine failure). */
  readonly #newId = decisionIdGenerator();
  #draining = false;
  #closing: Promise<void> | undefined;

  constructor(options: AuthzHttpServerOptions) {
    this.#options = options;
    this.#decisionIdHeader = options.identityHeaders.decisionId;
    this.server = createServer(
      {
        maxHeaderSize: options.maxHeaderBytes ?? 16 * 1024,
        keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
        headersTimeout: 10_000,
        requestTimeout: 30_000,
      },
      (req, res) => this.#route(req, res),
    );
    const trusted = options.trustedProxies;
    this.server.on('connection', (socket: TaggedSocket) => {
      socket[TRUSTED] = trusted.contains(socket.remoteAddress);
    });
    this.server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => this.#clientError(error, socket));
  }

  /** Listen; resolves with the bound address (port 0 picks a free one). */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** True once draining began (startDraining or close): /readyz answers 503, every answer closes its connection. */
  get draining(): boolean {
    return this.#draining;
  }

  /**
   * First step of a graceful stop, while the listener stays open: readiness goes false, so load balancers
   * that watch /readyz move away, and every answer from now on carries `Connection: close`, so a gateway's
   * keep-alive pool (nginx, Traefik) drops each connection after its current request instead of reusing
   * it after the listener is gone.
   */
  startDraining(): void {
    this.#draining = true;
  }

  /**
   * Graceful stop: drain (see startDraining), refuse new connections, close idle keep-alive ones, let
   * in-flight requests finish (their answers close their connections), and after `graceMs` cut whatever is
   * left. Idempotent: a second call waits for the first.
   */
  close(graceMs: number): Promise<void> {
    this.#draining = true;
    this.#closing ??= this.#close(graceMs);
    return this.#closing;
  }

  async #close(graceMs: number): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => this.server.closeAllConnections(), graceMs);
    timer.unref();
    await closed;
    clearTimeout(timer);
  }

  #route(req: IncomingMessage, res: ServerResponse): void {
    const url = req.url ?? '/';
    if (url.startsWith(FORWARD_AUTH_PATH) && (url.length === FORWARD_AUTH_PATH.length || url.charCodeAt(FORWARD_AUTH_PATH.length) === 63 /* ? */)) {
      this.#forwardAuth(req, res);
      return;
    }
    const path = url.split('?', 1)[0];
    if (req.method === 'OPTIONS' && (path === '/healthz' || path === '/readyz' || path === '/metrics')) {
      this.#head(res, 204, ['allow', 'GET, HEAD, OPTIONS', 'content-length', '0']);
      res.end();
      return;
    }
    switch (path) {
      case '/healthz':
        this.#json(res, 200, '{"status":"ok"}');
        return;
      case '/readyz': {
        const detail = this.#options.readinessDetail?.() ?? {};
        if (this.#draining) this.#json(res, 503, JSON.stringify({ status: 'draining', reason: 'shutting down', ...detail }));
        else if (this.#options.ready()) this.#json(res, 200, JSON.stringify({ status: 'ready', ...detail }));
        else this.#json(res, 503, JSON.stringify({ status: 'not ready', reason: 'no authorization state loaded yet', ...detail }));
        return;
      }
      case '/metrics':
        void this.#metrics(res);
        return;
      default:
        this.#problem(res, 'not_found', `No endpoint ${path}; gateways call ${FORWARD_AUTH_PATH}`, this.#newId());
    }
  }

  #forwardAuth(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as TaggedSocket;
    const call: ForwardAuthCall = {
      method: req.method ?? 'GET',
      url: req.url ?? '/',
      headers: req.headers,
      remoteAddress: socket.remoteAddress ?? '',
      peerTrusted: socket[TRUSTED] === true,
    };
    const normalized = normalizeForwardAuthCall(call, this.#options.trustedProxies);
    if (!normalized.ok) {
      const denial: Decision = { kind: 'deny', id: this.#newId(), code: 'invalid_request', detail: `The original request target is invalid: ${normalized.reason}`, headers: [] };
      this.#options.observer.observe({ adapter: 'forward_auth', method: call.method, host: '', path: '', clientIp: call.remoteAddress }, denial, 0);
      this.#answer(res, denial);
      return;
    }
    // most decisions (API keys, cached tokens, in-memory buckets) are already here: answered without a microtask
    const request = normalized.request;
    settle(
      () => this.#options.engine.decide(request),
      (decision) => this.#answer(res, decision),
      (error) => this.#answer(res, this.#engineFailed(error)),
    );
  }

  /** The engine returns denials as values; reaching this is a bug, and it must not become an allow. */
  #engineFailed(error: unknown): Decision {
    const denial: Decision = { kind: 'deny', id: this.#newId(), code: 'internal_error', detail: 'The authorization service failed to decide', headers: [] };
    this.#options.logger.error({ err: error, decision_id: denial.id }, 'decision engine threw');
    return denial;
  }

  #answer(res: ServerResponse, decision: Decision): void {
    try {
      if (decision.kind === 'allow') this.#writeAllow(res, decision);
      else this.#writeDeny(res, decision);
    } catch (error) {
      // a header value the engine produced that HTTP cannot carry (control characters)
      this.#options.logger.error({ err: error, decision_id: decision.id }, 'could not write the decision');
      if (!res.headersSent) this.#problem(res, 'internal_error', 'The decision could not be encoded', decision.id);
      else res.destroy();
    }
  }

  #writeAllow(res: ServerResponse, decision: Extract<Decision, { kind: 'allow' }>): void {
    const headers: string[] = [];
    for (const [name, value] of decision.upstreamHeaders) headers.push(name, value);
    for (const [name, value] of decision.responseHeaders) headers.push(name, value);
    headers.push('content-length', '0');
    this.#head(res, 200, headers);
    res.end();
  }

  #writeDeny(res: ServerResponse, decision: DenyDecision): void {
    const { status } = catalogEntry(decision.code);
    const body = denialBody(decision);
    const headers: string[] = [];
    for (const [name, value] of decision.headers) headers.push(name, value);
    headers.push(
      'content-type',
      PROBLEM_CONTENT_TYPE,
      'content-length',
      String(Buffer.byteLength(body)),
      'cache-control',
      'no-store',
      ERROR_CODE_HEADER,
      decision.code,
      this.#decisionIdHeader,
      decision.id,
    );
    this.#head(res, status, headers);
    res.end(body);
  }

  #problem(res: ServerResponse, code: ErrorCode, detail: string, id: string): void {
    this.#writeDeny(res, { kind: 'deny', id, code, detail, headers: [] });
  }

  /**
   * Every answer's head goes out here. While draining it says `Connection: close`, decided when the answer
   * is written (not when the request came in), so a request that was in flight when draining began still
   * leaves no idle keep-alive connection behind for a gateway to reuse.
   */
  #head(res: ServerResponse, status: number, headers: string[]): void {
    if (this.#draining) headers.push('connection', 'close');
    res.writeHead(status, headers);
  }

  #json(res: ServerResponse, status: number, body: string): void {
    this.#head(res, status, [...JSON_HEADERS, 'content-length', String(Buffer.byteLength(body))]);
    res.end(body);
  }

  async #metrics(res: ServerResponse): Promise<void> {
    try {
      const text = await this.#options.metrics.render();
      this.#head(res, 200, ['content-type', this.#options.metrics.contentType, 'content-length', String(Buffer.byteLength(text))]);
      res.end(text);
    } catch (error) {
      this.#options.logger.error({ err: error }, 'metrics rendering failed');
      this.#problem(res, 'internal_error', 'Metrics could not be rendered', this.#newId());
    }
  }

  /** Requests node could not parse: answer with a problem document instead of node's bare status line. */
  #clientError(error: NodeJS.ErrnoException, socket: Socket): void {
    if (error.code === 'ECONNRESET' || error.code === 'ERR_HTTP_REQUEST_TIMEOUT' || !socket.writable) {
      socket.destroy();
      return;
    }
    const code: ErrorCode = error.code === 'HPE_HEADER_OVERFLOW' ? 'request_header_too_large' : 'invalid_request';
    const { status } = catalogEntry(code);
    const body = JSON.stringify(problem(code, code === 'invalid_request' ? 'The request is not valid HTTP/1.1' : undefined));
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Error'}\r\ncontent-type: ${PROBLEM_CONTENT_TYPE}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n` +
        `${ERROR_CODE_HEADER}: ${code}\r\nconnection: close\r\n\r\n${body}`,
    );
  }
}
