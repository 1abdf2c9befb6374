/**
 * The replica's line to the control plane: one gRPC channel, one Subscribe stream at a time, reconnected
 * with exponential backoff and full jitter (so a fleet of replicas does not reconnect in lockstep after a
 * control-plane restart), resuming from whatever revision the replica holds at that moment.
 *
 * A stream that goes quiet for several heartbeat intervals is abandoned and replaced: a half-open TCP
 * connection (control plane vanished without a FIN) would otherwise look like a calm state forever.
 */
import { type ChannelCredentials, type ChannelOptions, type ClientReadableStream, type Client, type Metadata, type ServiceError, status } from '@grpc/grpc-js';
import type { Secret } from '../core/secret.js';
import { channelCredentials, type ClientTls } from '../grpc/tls.js';
import type { ReceivedSyncMessage, WireSubscribeRequest, WireUsageAck, WireUsageBatch } from './messages.js';
import { syncClientConstructor } from './protos.js';
import { syncMetadata } from './token.js';

export interface ConnectionEvents {
  /** Every message, in order. Throwing abandons the stream (the next one resumes from the held revision). */
  message(message: ReceivedSyncMessage): void;
  /** The stream ended or failed; `retryInMs` until the next attempt. */
  disconnected(reason: string, code: number | undefined, retryInMs: number): void;
}

export interface SyncConnectionOptions {
  readonly target: string;
  readonly token: Secret;
  /** Absent: plaintext. */
  readonly tls?: ClientTls;
  readonly replicaId: string;
  /** Where to resume from, asked at every (re)connect. */
  readonly position: () => { readonly revision: number; readonly epoch: string };
  readonly events: ConnectionEvents;
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Quiet heartbeat intervals before the stream is given up. */
  readonly missedHeartbeats?: number;
  readonly random?: () => number;
}

type StateSyncClient = Client & {
  Subscribe(request: WireSubscribeRequest, metadata: Metadata): ClientReadableStream<ReceivedSyncMessage>;
  ReportUsage(request: WireUsageBatch, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null, ack?: WireUsageAck) => void): void;
};

/**
 * Keepalive pings every 20 s (the server accepts one per 10 s) notice a dead peer even between heartbeats.
 * Reconnect backoff is ours, not the channel's: the channel's own stays short so it never outlasts ours.
 * A 16 MB flow-control window: with HTTP/2's default 64 KB the server stalls whenever this replica is busy
 * indexing a batch, and a million-key snapshot crawls.
 */
const CHANNEL_OPTIONS: ChannelOptions = {
  'grpc.keepalive_time_ms': 20_000,
  'grpc.keepalive_timeout_ms': 10_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.initial_reconnect_backoff_ms': 200,
  'grpc.max_reconnect_backoff_ms': 2_000,
  'grpc.max_receive_message_length': 64 * 1024 * 1024,
  'grpc-node.flow_control_window': 16 * 1024 * 1024,
};

const DEFAULT_HEARTBEAT_MS = 5_000;

export class SyncConnection {
  readonly #options: SyncConnectionOptions;
  readonly #client: StateSyncClient;
  readonly #random: () => number;
  #stream: ClientReadableStream<ReceivedSyncMessage> | undefined;
  #retryTimer: NodeJS.Timeout | undefined;
  #watchdog: NodeJS.Timeout | undefined;
  #heartbeatMs = DEFAULT_HEARTBEAT_MS;
  #attempt = 0;
  #closed = false;

  constructor(options: SyncConnectionOptions) {
    this.#options = options;
    this.#random = options.random ?? Math.random;
    const StateSync = syncClientConstructor() as new (address: string, creds: ChannelCredentials, options: ChannelOptions) => StateSyncClient;
    const channel = channelCredentials(options.tls);
    this.#client = new StateSync(options.target, channel.credentials, { ...CHANNEL_OPTIONS, ...channel.options });
  }

  start(): void {
    if (!this.#stream && !this.#retryTimer && !this.#closed) this.#subscribe();
  }

  /** Drop the current stream and subscribe again after a backoff (e.g. a delta that does not apply). */
  restart(reason: string): void {
    this.#abandon(reason, undefined);
  }

  /** Send a usage batch over the same channel. */
  reportUsage(batch: WireUsageBatch, timeoutMs = 10_000): Promise<WireUsageAck> {
    return new Promise((resolve, reject) =>
      this.#client.ReportUsage(batch, syncMetadata(this.#options.token), { deadline: Date.now() + timeoutMs }, (error, ack) => (error ? reject(error) : resolve(ack!))),
    );
  }

  close(): void {
    this.#closed = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    if (this.#watchdog) clearTimeout(this.#watchdog);
    this.#retryTimer = undefined;
    const stream = this.#stream;
    this.#stream = undefined;
    stream?.cancel();
    this.#client.close();
  }

  #subscribe(): void {
    this.#retryTimer = undefined;
    const position = this.#options.position();
    const stream = this.#client.Subscribe(
      { replica_id: this.#options.replicaId, since_revision: position.revision, epoch: position.epoch },
      syncMetadata(this.#options.token),
    );
    this.#stream = stream;
    this.#armWatchdog();
    stream.on('data', (message: ReceivedSyncMessage) => {
      if (this.#stream !== stream) return;
      this.#armWatchdog();
      if (message.message === 'heartbeat') {
        if (message.heartbeat.interval_ms > 0) this.#heartbeatMs = message.heartbeat.interval_ms;
        // a stream that got as far as a heartbeat is healthy: the next failure starts the backoff afresh
        this.#attempt = 0;
      }
      try {
        this.#options.events.message(message);
      } catch (error) {
        this.#abandon(`the replica could not apply a ${message.message} message: ${(error as Error).message}`, undefined);
      }
    });
    stream.on('error', (error: ServiceError) => {
      if (this.#stream === stream) this.#abandon(error.details || error.message, error.code);
    });
    stream.on('end', () => {
      if (this.#stream === stream) this.#abandon('the control plane ended the stream', status.OK);
    });
  }

  #armWatchdog(): void {
    if (this.#watchdog) clearTimeout(this.#watchdog);
    const quietMs = this.#heartbeatMs * (this.#options.missedHeartbeats ?? 3);
    this.#watchdog = setTimeout(() => this.#abandon(`no word from the control plane for ${quietMs} ms`, undefined), quietMs);
    this.#watchdog.unref();
  }

  #abandon(reason: string, code: number | undefined): void {
    if (this.#closed) return;
    const stream = this.#stream;
    this.#stream = undefined;
    if (this.#watchdog) clearTimeout(this.#watchdog);
    stream?.cancel();
    if (this.#retryTimer) return;
    const initial = this.#options.initialBackoffMs ?? 250;
    const cap = Math.min(this.#options.maxBackoffMs ?? 10_000, initial * 2 ** this.#attempt);
    this.#attempt = Math.min(this.#attempt + 1, 30);
    const delay = Math.round(this.#random() * cap);
    this.#options.events.disconnected(reason, code, delay);
    this.#retryTimer = setTimeout(() => this.#subscribe(), delay);
    this.#retryTimer.unref();
  }
}
