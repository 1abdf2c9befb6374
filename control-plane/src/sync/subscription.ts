/**
 * One replica's Subscribe stream: resume from its revision when the change log can, else a snapshot; then a
 * delta whenever the feed moves past what the replica holds, and a heartbeat when nothing else was sent for
 * an interval. Writes wait for the stream to drain, so a slow replica holds back only its own stream.
 */
import { once } from 'node:events';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import type { OutgoingSyncMessage, WireDelta, WireSubscribeRequest } from '../../../authz-service/src/sync/messages.js';
import type { ChangeFeed } from './change-feed.js';
import { readDelta } from './delta-reader.js';
import { consumerPages, keyPages, startSnapshot } from './snapshot-reader.js';

export interface SubscriptionDeps {
  readonly db: Knex;
  readonly feed: ChangeFeed;
  readonly epoch: string;
  readonly heartbeatMs: number;
  readonly clock: () => number;
  readonly logger: Logger;
  readonly maxDeltaChanges?: number;
  readonly snapshotPageSize?: number;
}

export type SyncCall = ServerWritableStream<WireSubscribeRequest, OutgoingSyncMessage>;

class StreamClosed extends Error {}

/** How often a snapshot may be retried when changes keep outrunning it. */
const SNAPSHOT_ATTEMPTS = 3;

export class Subscription {
  readonly #call: SyncCall;
  readonly #deps: SubscriptionDeps;
  readonly #log: Logger;
  #closed = false;
  readonly #closedSignal: Promise<void>;
  #signalClosed!: () => void;
  #revision = 0;
  #wake: (() => void) | undefined;

  constructor(call: SyncCall, deps: SubscriptionDeps) {
    this.#closedSignal = new Promise((resolve) => (this.#signalClosed = resolve));
    this.#call = call;
    this.#deps = deps;
    this.#log = deps.logger.child({ replica: call.request.replica_id.slice(0, 128) || 'unnamed' });
    const close = () => this.#close();
    call.on('cancelled', close);
    call.on('close', close);
    call.on('error', close);
  }

  get revision(): number {
    return this.#revision;
  }

  /** Serve until the replica goes away or `end()` is called. */
  async run(): Promise<void> {
    const unsubscribe = this.#deps.feed.onAdvance(() => this.#wake?.());
    try {
      await this.#start(this.#call.request);
      while (!this.#closed) {
        const waited = await this.#nextEvent();
        if (this.#closed) break;
        if (this.#deps.feed.head > this.#revision) await this.#catchUp();
        else if (waited === 'timeout') await this.#write({ heartbeat: this.#heartbeat() });
      }
    } catch (error) {
      if (!(error instanceof StreamClosed) && !this.#closed) {
        this.#log.warn({ err: error }, 'sync stream failed; the replica will reconnect');
        this.#call.emit('error', { code: 14, details: 'the control plane could not continue the sync stream' });
      }
    } finally {
      unsubscribe();
      this.#close();
    }
  }

  /** Finish the stream (control plane shutting down): the replica reconnects, to another replica if any. */
  end(): void {
    if (this.#closed) return;
    this.#close();
    this.#call.end();
  }

  #close(): void {
    this.#closed = true;
    this.#signalClosed();
    this.#wake?.();
  }

  async #start(request: WireSubscribeRequest): Promise<void> {
    if (request.epoch === this.#deps.epoch && request.since_revision > 0) {
      const read = await this.#deps.feed.deltaSince(request.since_revision);
      if (read.kind === 'delta') {
        this.#revision = request.since_revision;
        this.#log.info({ since: request.since_revision, revision: read.delta.revision, changes: read.delta.changes.length }, 'replica resumed');
        if (read.delta.revision > this.#revision) await this.#sendDelta(read.delta);
        await this.#write({ heartbeat: this.#heartbeat() });
        return;
      }
      this.#log.info({ since: request.since_revision, reason: read.reason }, 'replica cannot resume; sending a snapshot');
    }
    await this.#snapshot();
    await this.#write({ heartbeat: this.#heartbeat() });
  }

  async #catchUp(): Promise<void> {
    const read = await this.#deps.feed.deltaSince(this.#revision);
    if (read.kind === 'gap') {
      this.#log.info({ since: this.#revision, reason: read.reason }, 'sending a snapshot instead of a delta');
      await this.#snapshot();
    } else if (read.delta.revision > this.#revision) {
      await this.#sendDelta(read.delta);
    }
  }

  async #sendDelta(delta: WireDelta): Promise<void> {
    await this.#write({ delta });
    this.#revision = delta.revision;
  }

  async #snapshot(): Promise<void> {
    const { db, epoch, clock } = this.#deps;
    for (let attempt = 1; ; attempt++) {
      const started = clock();
      const start = await startSnapshot(db);
      await this.#write({
        snapshot_begin: { epoch, revision: start.revision, catalog_json: start.catalogJson, consumer_count: start.consumerCount, key_count: start.keyCount },
      });
      let consumers = 0;
      let keys = 0;
      for await (const page of consumerPages(db, this.#deps.snapshotPageSize)) {
        await this.#write({ consumers: { consumers: page } });
        consumers += page.length;
      }
      for await (const page of keyPages(db, clock, this.#deps.snapshotPageSize)) {
        await this.#write({ keys: { keys: page } });
        keys += page.length;
      }
      // what changed while the pages were read: afterwards the snapshot is exactly one revision
      const read = await readDelta(db, start.revision, clock(), this.#deps.maxDeltaChanges);
      if (read.kind === 'gap') {
        if (attempt >= SNAPSHOT_ATTEMPTS) throw new Error(`state changed faster than a snapshot could be read: ${read.reason}`);
        continue;
      }
      if (read.delta.revision > start.revision) await this.#write({ delta: read.delta });
      await this.#write({ snapshot_end: { revision: read.delta.revision, consumer_count: consumers, key_count: keys } });
      this.#revision = read.delta.revision;
      this.#log.info({ revision: this.#revision, consumers, keys, ms: clock() - started }, 'snapshot sent');
      return;
    }
  }

  #heartbeat() {
    return { revision: this.#deps.feed.head, interval_ms: this.#deps.heartbeatMs, server_time_ms: this.#deps.clock() };
  }

  /** Resolves on a feed advance ('woken') or after a heartbeat interval ('timeout'). */
  #nextEvent(): Promise<'woken' | 'timeout'> {
    if (this.#deps.feed.head > this.#revision) return Promise.resolve('woken');
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#wake = undefined;
        resolve('timeout');
      }, this.#deps.heartbeatMs);
      this.#wake = () => {
        clearTimeout(timer);
        this.#wake = undefined;
        resolve('woken');
      };
    });
  }

  async #write(message: OutgoingSyncMessage): Promise<void> {
    if (this.#closed) throw new StreamClosed();
    if (this.#call.write(message)) return;
    await Promise.race([once(this.#call, 'drain'), this.#closedSignal]);
    if (this.#closed) throw new StreamClosed();
  }
}
