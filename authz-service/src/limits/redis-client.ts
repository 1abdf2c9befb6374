/**
 * The ioredis client for the data plane's hot path. Every setting serves one rule: a Redis that is down,
 * slow or unreachable costs a request a bounded few milliseconds and an `unavailable` answer, never a hang,
 * a queue that grows without bound, or a replay of a counter increment after the caller has moved on.
 */
import { Redis, type RedisOptions } from 'ioredis';

export interface RedisClientOptions {
  /** A command without a reply after this long fails ("Command timed out"). Default 100 ms. */
  readonly commandTimeoutMs?: number;
  /** TCP connect (and handshake) deadline per attempt. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /**
   * While commands are in flight, a socket that receives nothing for this long is destroyed and
   * reconnected: catches a peer that vanished without closing (partition, frozen host) long before TCP
   * keep-alive would. Default 1000 ms.
   */
  readonly socketTimeoutMs?: number;
  /** Reconnect backoff: 50 ms doubling per attempt, capped here (plus up to 50 ms jitter). Default 1000 ms. */
  readonly reconnectMaxDelayMs?: number;
  /** CLIENT SETNAME, to find these connections in CLIENT LIST. Default "portcullis-authz". */
  readonly connectionName?: string;
}

export const REDIS_CLIENT_DEFAULTS = Object.freeze({
  commandTimeoutMs: 100,
  connectTimeoutMs: 2000,
  socketTimeoutMs: 1000,
  reconnectMaxDelayMs: 1000,
  connectionName: 'portcullis-authz',
});

/**
 * `url`: redis://[user:password@]host:port[/db] or rediss:// for TLS. The password stays inside ioredis;
 * log the address with `redactRedisUrl`.
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  const settings = { ...REDIS_CLIENT_DEFAULTS, ...options };
  const redisOptions: RedisOptions = {
    // No queue while disconnected: a command fails at once instead of waiting for a reconnect.
    enableOfflineQueue: false,
    // Commands in flight when the connection drops fail at once (0 retries) and are never re-sent on the
    // next connection: an INCRBY replayed after its caller got "unavailable" would count twice.
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    commandTimeout: settings.commandTimeoutMs,
    connectTimeout: settings.connectTimeoutMs,
    socketTimeout: settings.socketTimeoutMs,
    // Concurrent requests' commands leave in one write per event-loop turn: throughput under load.
    enableAutoPipelining: true,
    retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt - 1, 16), settings.reconnectMaxDelayMs) + Math.floor(Math.random() * 50),
    connectionName: settings.connectionName,
    lazyConnect: false,
  };
  return new Redis(url, redisOptions);
}

/** The URL with any password replaced, for logs and errors. */
export function redactRedisUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparseable redis url>';
  }
}

/**
 * Resolves true once the client is ready, false after `timeoutMs` or when the client has ended. Connection
 * errors meanwhile do not end the wait (the client keeps reconnecting). The limiter answers `unavailable`
 * until the client is ready, so a caller at startup may wait a little, but need not.
 */
export function whenRedisReady(client: Redis, timeoutMs: number): Promise<boolean> {
  if (client.status === 'ready') return Promise.resolve(true);
  if (client.status === 'end') return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (ready: boolean): void => {
      clearTimeout(timer);
      client.off('ready', onReady);
      client.off('end', onEnd);
      resolve(ready);
    };
    const onReady = (): void => settle(true);
    const onEnd = (): void => settle(false);
    const timer = setTimeout(settle, timeoutMs, false);
    client.once('ready', onReady);
    client.once('end', onEnd);
  });
}
