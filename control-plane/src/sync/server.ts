/**
 * The control plane's state-sync gRPC server (`portcullis.v1.StateSync` on PORTCULLIS_SYNC_PORT): streams the
 * state to authz-service replicas and takes their usage reports. Every call must carry the sync token.
 */
import { type sendUnaryData, Server, type ServerUnaryCall, status as GrpcStatus } from '@grpc/grpc-js';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { Secret } from '../../../authz-service/src/core/secret.js';
import { serverCredentials, type ServerTls, tlsMode } from '../../../authz-service/src/grpc/tls.js';
import type { WireUsageAck, WireUsageBatch } from '../../../authz-service/src/sync/messages.js';
import { syncServiceDefinition } from '../../../authz-service/src/sync/protos.js';
import { presentsToken } from '../../../authz-service/src/sync/token.js';
import { onStateCommitted } from '../services/unit-of-work.js';
import { syncEpoch } from '../store/state-changes.js';
import { ChangeFeed, type ChangeFeedOptions } from './change-feed.js';
import { PostgresChangeListener } from './pg-listener.js';
import { Subscription, type SyncCall } from './subscription.js';
import { ingestReportedUsage } from './usage-ingest.js';

export const DEFAULT_HEARTBEAT_MS = 5_000;

/**
 * Keepalive pings from replicas are welcome every 10 s or more (they use them to notice a control plane that
 * vanished without a FIN); the server pings idle connections itself every 30 s for the same reason.
 */
const SERVER_OPTIONS = Object.freeze({
  'grpc.keepalive_time_ms': 30_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.http2.min_ping_interval_without_data_ms': 10_000,
  'grpc.max_send_message_length': 16 * 1024 * 1024,
});

export interface SyncServerOptions {
  readonly db: Knex;
  readonly token: Secret;
  /** Absent: plaintext. The token is required either way: TLS proves the server to replicas, the token a replica to the server. */
  readonly tls?: ServerTls;
  /** 0 picks a free port. */
  readonly port: number;
  readonly host: string;
  readonly logger: Logger;
  readonly clock?: () => number;
  /** Postgres URL to LISTEN on for changes made by other control-plane replicas; absent on PGlite. */
  readonly notifyUrl?: Secret;
  readonly heartbeatMs?: number;
  readonly feed?: Omit<ChangeFeedOptions, 'db' | 'logger' | 'clock'>;
  readonly snapshotPageSize?: number;
}

export interface SyncServer {
  readonly port: number;
  readonly epoch: string;
  readonly feed: ChangeFeed;
  /** Replicas connected right now. */
  readonly subscribers: number;
  readonly closed: boolean;
  /** Ends every stream (replicas reconnect), stops listening. Idempotent. */
  close(): Promise<void>;
}

function bindAddress(host: string, port: number): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]:${port}` : `${host}:${port}`;
}

export async function startSyncServer(options: SyncServerOptions): Promise<SyncServer> {
  const { db, token, logger } = options;
  const log = logger.child({ component: 'sync' });
  const clock = options.clock ?? Date.now;
  const heartbeatMs = options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS;
  const epoch = await syncEpoch(db, new Date(clock()));
  const feed = new ChangeFeed({ ...options.feed, db, logger: log, clock });
  await feed.start();
  const stopLocalWake = onStateCommitted(db, () => feed.wake());
  const listener = options.notifyUrl ? new PostgresChangeListener(options.notifyUrl, () => feed.wake(), log) : undefined;
  listener?.start();

  const subscriptions = new Set<Subscription>();
  const server = new Server(SERVER_OPTIONS);
  server.addService(syncServiceDefinition(), {
    Subscribe(call: SyncCall) {
      if (!presentsToken(call.metadata, token)) {
        log.warn({ peer: call.getPeer() }, 'sync subscription refused: wrong or missing token');
        call.emit('error', { code: GrpcStatus.UNAUTHENTICATED, details: 'a valid sync token is required' });
        return;
      }
      const subscription = new Subscription(call, {
        db,
        feed,
        epoch,
        heartbeatMs,
        clock,
        logger: log,
        ...(options.feed?.maxDeltaChanges !== undefined ? { maxDeltaChanges: options.feed.maxDeltaChanges } : {}),
        ...(options.snapshotPageSize !== undefined ? { snapshotPageSize: options.snapshotPageSize } : {}),
      });
      subscriptions.add(subscription);
      void subscription.run().finally(() => subscriptions.delete(subscription));
    },
    ReportUsage(call: ServerUnaryCall<WireUsageBatch, WireUsageAck>, callback: sendUnaryData<WireUsageAck>) {
      if (!presentsToken(call.metadata, token)) {
        callback({ code: GrpcStatus.UNAUTHENTICATED, details: 'a valid sync token is required' });
        return;
      }
      ingestReportedUsage(db, call.request, clock).then(
        (result) => (result.ok ? callback(null, result.ack) : callback({ code: GrpcStatus.INVALID_ARGUMENT, details: result.problem })),
        (error: unknown) => {
          log.warn({ err: error, batch_id: call.request.batch_id }, 'usage report could not be stored; the replica will retry it');
          callback({ code: GrpcStatus.UNAVAILABLE, details: 'usage could not be stored now; retry with the same batch id' });
        },
      );
    },
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bindAddress(options.host, options.port), serverCredentials(options.tls), (error, bound) => (error ? reject(error) : resolve(bound))),
  );
  log.info({ port, epoch, transport: tlsMode(options.tls) }, 'state sync listening');

  let closing: Promise<void> | undefined;
  return {
    port,
    epoch,
    feed,
    get subscribers() {
      return subscriptions.size;
    },
    get closed() {
      return closing !== undefined;
    },
    close() {
      closing ??= (async () => {
        stopLocalWake();
        feed.close();
        await listener?.close();
        for (const s of subscriptions) s.end();
        await new Promise<void>((resolve) => {
          const deadline = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, 2_000);
          server.tryShutdown(() => {
            clearTimeout(deadline);
            resolve();
          });
        });
      })();
      return closing;
    },
  };
}
