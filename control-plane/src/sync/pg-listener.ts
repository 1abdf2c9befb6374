/**
 * LISTEN on Postgres for the change log's NOTIFY, so a change written through any control-plane replica
 * wakes every replica's sync server at once. A dedicated connection (a pooled one would be handed to other
 * queries); when it drops it comes back with backoff, and every (re)connect counts as a notification, since
 * something may have happened while nobody listened. Polling by revision stays the safety net.
 */
import pg from 'pg';
import type { Logger } from 'pino';
import type { Secret } from '../../../authz-service/src/core/secret.js';
import { STATE_CHANGES_CHANNEL } from '../db/migrations/003-sync.js';

const MIN_RETRY_MS = 500;
const MAX_RETRY_MS = 15_000;

export class PostgresChangeListener {
  readonly #url: Secret;
  readonly #onChange: () => void;
  readonly #logger: Logger;
  #client: pg.Client | undefined;
  #retryMs = MIN_RETRY_MS;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(url: Secret, onChange: () => void, logger: Logger) {
    this.#url = url;
    this.#onChange = onChange;
    this.#logger = logger;
  }

  start(): void {
    void this.#connect();
  }

  async #connect(): Promise<void> {
    if (this.#closed) return;
    const client = new pg.Client({ connectionString: this.#url.reveal(), keepAlive: true });
    this.#client = client;
    let failed = false;
    const retry = (error?: Error) => {
      if (failed || this.#closed) return;
      failed = true;
      client.removeAllListeners('notification');
      void client.end().catch(() => undefined);
      this.#logger.warn({ reason: error?.message ?? 'connection ended', retry_ms: this.#retryMs }, 'change notifications lost; polling until they are back');
      this.#timer = setTimeout(() => void this.#connect(), this.#retryMs);
      this.#timer.unref();
      this.#retryMs = Math.min(MAX_RETRY_MS, this.#retryMs * 2);
    };
    client.on('error', retry);
    client.on('end', () => retry());
    client.on('notification', () => this.#onChange());
    try {
      await client.connect();
      await client.query(`LISTEN ${STATE_CHANGES_CHANNEL}`);
      this.#retryMs = MIN_RETRY_MS;
      this.#onChange();
    } catch (error) {
      retry(error as Error);
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    const client = this.#client;
    this.#client = undefined;
    if (client) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
    }
  }
}
