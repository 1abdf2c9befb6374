/**
 * Rate limiter shared by all replicas (rate-limiter-flexible RateLimiterRedis over ioredis).
 *
 * How RateLimiterRedis executes a consume with ioredis: one Lua script registered with defineCommand
 * (`rlflxIncr`), sent as EVAL the first time on each connection and as EVALSHA afterwards:
 *   SET key 0 EX <window> NX; INCRBY key <cost>; PTTL key (re-EXPIRE if the key lost its TTL)
 * returning {consumed, pttl}. Atomic and one round trip per bucket; with auto-pipelining the draws of
 * concurrent requests share writes. MULTI is used only for set/block/get and for sub-second windows
 * (which the state schema does not allow). msBeforeNext is that PTTL: the time until this bucket's
 * fixed window ends. See consume-buckets.ts for the algorithm and its burst-at-boundary property.
 *
 * Failures are values: any store error ends as `{kind: 'unavailable'}` within the client's command
 * timeout, and the decision core applies the route's fail_mode. rate-limiter-flexible's own
 * insuranceLimiter is deliberately not used: whether "unavailable" means allow-with-local-limits or 503
 * is a per-route decision that belongs to the core.
 */
import type { Redis } from 'ioredis';
import { RateLimiterRedis } from 'rate-limiter-flexible';
import type { MaybePromise } from '../core/maybe-promise.js';
import { type BucketStore, drawFrom, LimiterPool, StoreFailure } from './bucket-store.js';
import { consumeBuckets } from './consume-buckets.js';
import type { BucketRequest, LimitOutcome, RateLimiter } from './limiter.js';

export const DEFAULT_REDIS_PREFIX = 'pc:rl:';

/** "command": a consume or refund failed; "connection": the client reported a connection error. */
export type StoreErrorSource = 'command' | 'connection';
export type StoreErrorListener = (source: StoreErrorSource, reason: string) => void;

export interface RedisRateLimiterOptions {
  /** Built with createRedisClient (or equally non-queueing settings: no offline queue, a command timeout). */
  readonly client: Redis;
  /** Prefix of every key, for a Redis shared by several tenants or environments. Default "pc:rl:". */
  readonly prefix?: string;
  /** Called on every store error, for metrics. Must not throw. */
  readonly onStoreError?: StoreErrorListener;
  /** close() also closes the client. Default true; pass false when the client is shared. */
  readonly closeClient?: boolean;
}

/**
 * Gives points back only while the window that counted them is still open: DECRBY keeps the TTL, and a
 * missing key (window ended) is left alone instead of being recreated with a negative count.
 */
const REFUND_SCRIPT = `
if redis.call('pttl', KEYS[1]) > 0 then
  return redis.call('decrby', KEYS[1], ARGV[1])
end
return false
`;

interface RefundingClient extends Redis {
  pcRateLimitRefund(key: string, points: number): Promise<number | null>;
}

export class RedisRateLimiter implements RateLimiter {
  readonly kind = 'redis';
  readonly #client: RefundingClient;
  readonly #prefix: string;
  readonly #closeClient: boolean;
  readonly #onStoreError: StoreErrorListener | undefined;
  readonly #pool: LimiterPool<RateLimiterRedis>;
  #storeErrors = 0;
  #closed = false;

  readonly #onConnectionError = (error: unknown): void => this.#report('connection', error);

  readonly #store: BucketStore = {
    draw: (bucket, cost) =>
      drawFrom(this.#limiterFor(bucket), bucket.key, cost).then((result) => {
        if (result instanceof StoreFailure) this.#report('command', result.error);
        return result;
      }),
    refund: async (bucket, cost) => {
      try {
        await this.#client.pcRateLimitRefund(this.#limiterFor(bucket).getKey(bucket.key), cost);
      } catch (error) {
        this.#report('command', error);
      }
    },
    failureReason: redisFailureReason,
  };

  constructor(options: RedisRateLimiterOptions) {
    this.#client = options.client as RefundingClient;
    this.#prefix = options.prefix ?? DEFAULT_REDIS_PREFIX;
    this.#closeClient = options.closeClient ?? true;
    this.#onStoreError = options.onStoreError;
    this.#client.defineCommand('pcRateLimitRefund', { numberOfKeys: 1, lua: REFUND_SCRIPT });
    // Also keeps ioredis from printing "Unhandled error event" on every reconnect attempt.
    this.#client.on('error', this.#onConnectionError);
    this.#pool = new LimiterPool(
      (windowSeconds, points) =>
        new RateLimiterRedis({
          storeClient: this.#client,
          points,
          duration: windowSeconds,
          // The window is part of the key: buckets of different windows never share a counter, while a
          // limit change on the same window keeps counting in the same key (and replicas that briefly
          // disagree on the limit still share it).
          keyPrefix: `${this.#prefix}${windowSeconds}s`,
          // Fail at once when not connected rather than handing the command to ioredis.
          rejectIfRedisNotReady: true,
        }),
    );
  }

  /** Store errors seen so far (commands and connection), for a metrics gauge or a test. */
  get storeErrors(): number {
    return this.#storeErrors;
  }

  consume(buckets: readonly BucketRequest[], cost: number): MaybePromise<LimitOutcome> {
    if (this.#closed) return { kind: 'unavailable', reason: 'rate limiter closed' };
    return consumeBuckets(this.#store, buckets, cost);
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#pool.clear();
    if (!this.#closeClient) {
      this.#client.off('error', this.#onConnectionError);
      return;
    }
    try {
      if (this.#client.status === 'ready') await this.#client.quit();
      else this.#client.disconnect();
    } catch {
      this.#client.disconnect();
    }
    // Removed last: a closing client can still report the connection going away.
    this.#client.off('error', this.#onConnectionError);
  }

  #limiterFor(bucket: BucketRequest): RateLimiterRedis {
    return this.#pool.get(bucket.windowSeconds, bucket.limit.requests);
  }

  #report(source: StoreErrorSource, error: unknown): void {
    this.#storeErrors++;
    if (!this.#onStoreError) return;
    try {
      this.#onStoreError(source, redisFailureReason(error));
    } catch {
      // A metrics callback must never turn a store error into a failed request.
    }
  }
}

/**
 * A short reason without addresses or credentials. ioredis's messages do not carry the password, but
 * they vary by version; the known cases get stable wording so logs and alerts can match on them.
 */
export function redisFailureReason(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  if (message.includes('Command timed out')) return 'redis command timed out';
  if (message.includes('Socket timeout')) return 'redis socket timed out';
  if (/not ready|isn't writeable|Connection is closed|MaxRetriesPerRequest|max retries per request/i.test(message)) return 'redis not connected';
  const code = typeof error === 'object' && error !== null && 'code' in error ? String((error as { code: unknown }).code) : undefined;
  if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE' || code === 'ETIMEDOUT') return `redis connection failed (${code})`;
  return `redis error: ${message.replace(/\/\/[^@/\s]*@/g, '//***@').slice(0, 200)}`;
}
