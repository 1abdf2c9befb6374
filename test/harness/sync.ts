/**
 * Test support for state sync: a little catalog made through the control plane's REST API, keys, calls to a
 * replica's /forward-auth, and a raw client of the sync protocol built from the repository's proto.
 */
import { type ChannelCredentials, type ChannelOptions, credentials, type Client, Metadata, type ServiceError } from '@grpc/grpc-js';
import type { ReceivedSyncMessage, WireSubscribeRequest, WireUsageAck, WireUsageBatch } from '../../authz-service/src/sync/messages.js';
import { syncClientConstructor } from '../../authz-service/src/sync/protos.js';
import { send } from './http.js';
import { waitFor } from './ports.js';

export const SYNC_TOKEN = 'sync-test-token-0123456789';

/** Anything that can call the control plane's REST API as an administrator. */
export type AdminCall = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any; text: string }>;

/** An AdminCall against a control plane at `baseUrl`. */
export function adminCaller(baseUrl: string, adminKey: string): AdminCall {
  return async (method, path, body) => {
    const res = await fetch(baseUrl + path, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, body: text && /json/.test(res.headers.get('content-type') ?? '') ? JSON.parse(text) : text, text };
  };
}

async function expectStatus(call: Promise<{ status: number; body: any; text: string }>, status: number, what: string): Promise<any> {
  const reply = await call;
  if (reply.status !== status) throw new Error(`${what}: expected ${status}, got ${reply.status}: ${reply.text}`);
  return reply.body;
}

/** Plan "standard", service "llm" at /llm (route "chat" needs scope "chat"), consumer "Alice"; returns her id. */
export async function seedCatalog(call: AdminCall): Promise<{ consumerId: string }> {
  await expectStatus(call('POST', '/v1/plans', { name: 'standard', limits: [{ window: '1s', requests: 10_000 }] }), 201, 'create plan');
  await expectStatus(
    call('POST', '/v1/services', {
      name: 'llm',
      upstream_urls: ['http://127.0.0.1:9'],
      match: { path_prefix: '/llm' },
      plan: 'standard',
      routes: [{ name: 'chat', path_prefix: '/llm/v1/chat', scopes: ['chat'] }],
    }),
    201,
    'create service',
  );
  const consumer = await expectStatus(call('POST', '/v1/consumers', { name: 'Alice' }), 201, 'create consumer');
  return { consumerId: consumer.id as string };
}

export async function createKey(call: AdminCall, consumerId: string, scopes: string[] = ['chat']): Promise<{ id: string; key: string }> {
  const body = await expectStatus(call('POST', '/v1/keys', { consumer_id: consumerId, scopes, services: [] }), 201, 'create key');
  return { id: body.id, key: body.key };
}

export async function revokeKey(call: AdminCall, id: string): Promise<void> {
  await expectStatus(call('POST', `/v1/keys/${id}/revoke`, {}), 200, 'revoke key');
}

export async function rotateKey(call: AdminCall, id: string, graceSeconds: number): Promise<string> {
  return (await expectStatus(call('POST', `/v1/keys/${id}/rotate`, { grace_seconds: graceSeconds }), 200, 'rotate key')).key;
}

/** The status a replica's /forward-auth answers for a request to /llm/v1/chat with this key. */
export async function decide(port: number, key: string, path = '/llm/v1/chat'): Promise<number> {
  const reply = await send(port, {
    path: '/forward-auth',
    headers: { 'x-forwarded-method': 'POST', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'api.example.com', 'x-forwarded-uri': path, 'x-api-key': key },
  });
  return reply.status;
}

/** Wait until every replica answers `status` for the key; resolves with how long that took. */
export async function untilAll(ports: readonly number[], key: string, status: number, timeoutMs = 5_000): Promise<number> {
  const started = Date.now();
  await waitFor(async () => (await Promise.all(ports.map((p) => decide(p, key)))).every((s) => s === status), `${status} for the key on ${ports.join(', ')}`, timeoutMs, 5);
  return Date.now() - started;
}

type RawClient = Client & {
  Subscribe(request: WireSubscribeRequest, metadata: Metadata): NodeJS.ReadableStream & { cancel(): void; on(event: string, listener: (...args: any[]) => void): unknown };
  ReportUsage(request: WireUsageBatch, metadata: Metadata, callback: (error: ServiceError | null, ack?: WireUsageAck) => void): void;
};

/** A bare StateSync client, as a replica of another implementation would be. */
export class RawSyncClient {
  readonly #client: RawClient;
  /** Plaintext unless told otherwise (grpc/tls.ts's channelCredentials). */
  constructor(port: number, channel: { credentials: ChannelCredentials; options?: ChannelOptions } = { credentials: credentials.createInsecure() }) {
    const StateSync = syncClientConstructor() as new (address: string, creds: ChannelCredentials, options?: ChannelOptions) => RawClient;
    this.#client = new StateSync(`127.0.0.1:${port}`, channel.credentials, channel.options ?? {});
  }

  /** `null`: no authorization at all. */
  static metadata(token: string | null): Metadata {
    const metadata = new Metadata();
    if (token !== null) metadata.set('authorization', `Bearer ${token}`);
    return metadata;
  }

  /** The first `count` messages of a subscription (or the error that ended it), then cancel. */
  take(request: Partial<WireSubscribeRequest>, count: number, token: string | null = SYNC_TOKEN, timeoutMs = 10_000): Promise<ReceivedSyncMessage[]> {
    return new Promise((resolve, reject) => {
      const messages: ReceivedSyncMessage[] = [];
      const stream = this.#client.Subscribe({ replica_id: 'raw', since_revision: 0, epoch: '', ...request }, RawSyncClient.metadata(token));
      const timer = setTimeout(() => {
        stream.cancel();
        reject(new Error(`only ${messages.length} of ${count} messages: ${messages.map((m) => m.message).join(', ')}`));
      }, timeoutMs);
      stream.on('data', (message: ReceivedSyncMessage) => {
        messages.push(message);
        if (messages.length === count) {
          clearTimeout(timer);
          stream.cancel();
          resolve(messages);
        }
      });
      stream.on('error', (error: ServiceError) => {
        clearTimeout(timer);
        if (messages.length < count) reject(error);
      });
    });
  }

  reportUsage(batch: WireUsageBatch, token: string | null = SYNC_TOKEN): Promise<WireUsageAck> {
    return new Promise((resolve, reject) => this.#client.ReportUsage(batch, RawSyncClient.metadata(token), (error, ack) => (error ? reject(error) : resolve(ack!))));
  }

  close(): void {
    this.#client.close();
  }
}
