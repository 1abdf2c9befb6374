/**
 * The Envoy ext_authz v3 gRPC server: `envoy.service.auth.v3.Authorization/Check` plus grpc.health.v1.
 * A thin adapter over the DecisionEngine — it translates a CheckRequest in and a Decision out, nothing more.
 */
import { randomUUID } from 'node:crypto';
import {
  type sendUnaryData,
  Server,
  type ServerUnaryCall,
  type ServiceDefinition,
  status as GrpcStatus,
} from '@grpc/grpc-js';
import type { Decision, DenyDecision } from '../core/decision.js';
import type { DecisionEngine } from '../core/engine.js';
import { settle } from '../core/maybe-promise.js';
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from '../core/identity-headers.js';
import { normalizeCheckRequest } from './check-request.js';
import { checkReplyFor } from './check-response.js';
import type { CheckRequestMessage, CheckResponseMessage } from './ext-authz-messages.js';
import { HealthService } from './health.js';
import { loadExtAuthzDefinition, loadGrpcPackage, loadHealthDefinition, lookupGrpc } from './protos.js';
import { serverCredentials, type ServerTls } from './tls.js';

export const EXT_AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization';
export const HEALTH_SERVICE = 'grpc.health.v1.Health';
export const DEFAULT_EXT_AUTHZ_PORT = 9191;
export const DEFAULT_SHUTDOWN_GRACE_MS = 10_000;

/**
 * Connection management, chosen for Envoy as the (only) client — a few long-lived HTTP/2 connections per
 * Envoy, each carrying many concurrent Check calls:
 * - keepalive_time 60 s / timeout 20 s: the server pings an idle connection every minute and drops it when
 *   no ack arrives in 20 s, so an Envoy that vanished without a FIN (node lost, NAT entry expired) does not
 *   leave a half-open connection behind. Envoy answers pings and applies no ping policy to its upstreams.
 * - Envoy's own pings are always welcome: grpc-js servers enforce no minimum ping interval (no
 *   GOAWAY "too_many_pings"), so the cluster's `connection_keepalive` may use any interval.
 * - max_connection_age 30 min (+30 s grace for calls in flight): Envoy reconnects after the GOAWAY, which
 *   spreads its connections over authz replicas added since; a Check takes milliseconds, so the grace is ample.
 * - No idle limit: an idle Envoy connection costs nothing, and reconnecting would add latency to the next call.
 */
const SERVER_OPTIONS = Object.freeze({
  'grpc.keepalive_time_ms': 60_000,
  'grpc.keepalive_timeout_ms': 20_000,
  'grpc.max_connection_age_ms': 30 * 60_000,
  'grpc.max_connection_age_grace_ms': 30_000,
});

/** pino-compatible. */
export interface ExtAuthzLogger {
  error(fields: Record<string, unknown>, message: string): void;
}

/**
 * Told about the denials this adapter makes before the engine runs (a target it cannot normalise), so they
 * are counted like the engine's own; the engine's decisions are observed by wrapping the engine.
 * Structurally the decision observer's `observe`.
 */
export interface AdapterDenialObserver {
  observe(
    request: { readonly adapter: 'ext_authz'; readonly method: string; readonly host: string; readonly path: string; readonly clientIp: string },
    decision: Decision,
    seconds: number,
  ): void;
}

export interface ExtAuthzServerOptions {
  readonly engine: DecisionEngine;
  /** 0 binds any free port (tests); the bound port is returned. */
  readonly port: number;
  /** Default 0.0.0.0. */
  readonly host?: string;
  /** Absent: plaintext. */
  readonly tls?: ServerTls;
  /** The names the decision core uses; the decision id header is also sent on denials. */
  readonly identityHeaders?: IdentityHeaderNames;
  /** How long close() lets calls in flight finish before cutting connections. */
  readonly shutdownGraceMs?: number;
  readonly logger?: ExtAuthzLogger;
  readonly observer?: AdapterDenialObserver;
}

export interface ExtAuthzServer {
  readonly port: number;
  /** SERVING/NOT_SERVING per service ("" = overall); the composition root may go NOT_SERVING before close(). */
  readonly health: Pick<HealthService, 'set' | 'status'>;
  /** NOT_SERVING, stop accepting, let calls in flight finish (up to the grace period), then cut. Idempotent. */
  close(): Promise<void>;
}

/** A target the router could read two ways is a bad request; built like the HTTP adapter builds its own. */
function invalidRequestDecision(reason: string): DenyDecision {
  return { kind: 'deny', id: randomUUID(), code: 'invalid_request', detail: `The original request target is invalid: ${reason}`, headers: [] };
}

function serviceDefinition(pkg: ReturnType<typeof loadGrpcPackage>, name: string): ServiceDefinition {
  return (lookupGrpc(pkg, name) as { service: ServiceDefinition }).service;
}

function bindAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function startExtAuthzServer(options: ExtAuthzServerOptions): Promise<ExtAuthzServer> {
  const { engine, logger, observer } = options;
  const decisionIdHeader = (options.identityHeaders ?? DEFAULT_IDENTITY_HEADERS).decisionId;
  const graceMs = options.shutdownGraceMs ?? DEFAULT_SHUTDOWN_GRACE_MS;

  const health = new HealthService([EXT_AUTHZ_SERVICE]);
  const server = new Server(SERVER_OPTIONS);
  server.addService(serviceDefinition(loadGrpcPackage(loadExtAuthzDefinition()), EXT_AUTHZ_SERVICE), {
    Check(call: ServerUnaryCall<CheckRequestMessage, CheckResponseMessage>, callback: sendUnaryData<CheckResponseMessage>) {
      const failed = (error: unknown) => {
        // a bug, not a decision: an RPC error so that Envoy's failure policy applies; no internals leave
        logger?.error({ err: error }, 'ext_authz Check failed');
        callback({ code: GrpcStatus.INTERNAL, details: 'internal_error' });
      };
      const reply = (decision: Decision) => {
        let answer: ReturnType<typeof checkReplyFor>;
        try {
          answer = checkReplyFor(decision, decisionIdHeader);
        } catch (error) {
          failed(error);
          return;
        }
        if (answer.kind === 'response') callback(null, answer.response);
        else callback({ code: answer.code, details: answer.details });
      };
      const mapped = normalizeCheckRequest(call.request);
      settle(() => {
        if (mapped.ok) return engine.decide(mapped.request);
        const denial = invalidRequestDecision(mapped.reason);
        const attributes = call.request.attributes;
        const summary = { adapter: 'ext_authz', method: attributes?.request?.http?.method ?? '', host: '', path: '' } as const;
        observer?.observe({ ...summary, clientIp: attributes?.source?.address?.socket_address?.address ?? '' }, denial, 0);
        return denial;
      }, reply, failed);
    },
  });
  server.addService(serviceDefinition(loadGrpcPackage(loadHealthDefinition()), HEALTH_SERVICE), health.implementation());

  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(bindAddress(options.host ?? '0.0.0.0', options.port), serverCredentials(options.tls), (error, bound) =>
      error ? reject(error) : resolve(bound),
    );
  });

  let closing: Promise<void> | undefined;
  return {
    port,
    health,
    close() {
      closing ??= new Promise<void>((resolve) => {
        health.set('NOT_SERVING');
        health.endWatches();
        const deadline = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(deadline);
          resolve();
        });
      });
      return closing;
    },
  };
}
