/**
 * State sync in one process: a real control plane (Postgres and PGlite) with its sync server on a free port,
 * and real authz-service replicas in sync mode, talking gRPC over loopback. The multi-process proof (separate
 * control planes, killed processes, a stopped Postgres) is sync-replicas.test.ts.
 */
import { expect } from 'chai';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { Secret } from '../../authz-service/src/core/secret.js';
import type { AuthzServiceHandles } from '../../authz-service/src/main.js';
import { snapshotPath } from '../../authz-service/src/sync/snapshot-file.js';
import { forEachBackend, type Harness } from '../../control-plane/src/testing/harness.js';
import { startSyncServer, type SyncServer } from '../../control-plane/src/sync/server.js';
import { startTestAuthz } from '../harness/authz.js';
import { send } from '../harness/http.js';
import { waitFor } from '../harness/ports.js';
import { type AdminCall, createKey, decide, RawSyncClient, revokeKey, rotateKey, seedCatalog, SYNC_TOKEN, untilAll } from '../harness/sync.js';
import { existsSync } from 'node:fs';

const TUNING = { initialBackoffMs: 50, maxBackoffMs: 400, persistDelayMs: 50 } as const;

function adminCall(h: Harness): AdminCall {
  return (method, path, body) => h.call(method, path, body === undefined ? {} : { body });
}

async function startReplica(h: Harness, syncPort: number, env: Record<string, string> = {}): Promise<AuthzServiceHandles> {
  return startTestAuthz(
    { PORTCULLIS_SYNC_TARGET: `127.0.0.1:${syncPort}`, PORTCULLIS_SYNC_TOKEN: SYNC_TOKEN, PORTCULLIS_USAGE_FLUSH_SECONDS: '3600', ...env },
    { keyHasher: h.cp.hasher, syncTuning: TUNING },
  );
}

const serve = (h: Harness, port = 0) =>
  h.cp.serveSync({ port, host: '127.0.0.1', token: new Secret(SYNC_TOKEN), heartbeatMs: 250, feed: { pollIntervalMs: 250 } });

forEachBackend('state sync', (harness) => {
  let sync: SyncServer;
  let replicas: AuthzServiceHandles[] = [];
  let call: AdminCall;
  let consumerId: string;
  const dirs: string[] = [];
  const ports = () => replicas.map((r) => r.httpAddress.port);

  before(async () => {
    const h = harness();
    call = adminCall(h);
    ({ consumerId } = await seedCatalog(call));
    sync = await serve(h);
    for (let i = 0; i < 2; i++) {
      const dir = mkdtempSync(join(tmpdir(), 'pc-sync-snap-'));
      dirs.push(dir);
      replicas.push(await startReplica(h, sync.port, { PORTCULLIS_SNAPSHOT_DIR: dir, PORTCULLIS_REPLICA_ID: `replica-${i}` }));
    }
    await waitFor(() => replicas.every((r) => r.store.ready), 'both replicas loaded a snapshot');
  });

  after(async () => {
    for (const r of replicas) await r.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a key created through the REST API works on both replicas and is denied on both within a second of its revocation', async () => {
    const { id, key } = await createKey(call, consumerId);
    await untilAll(ports(), key, 200);
    await revokeKey(call, id);
    const lag = await untilAll(ports(), key, 401, 1_000);
    expect(lag).to.be.below(1_000);
  });

  it('after a rotation both secrets work during the grace period, then only the new one', async () => {
    const { id, key } = await createKey(call, consumerId);
    await untilAll(ports(), key, 200);
    const next = await rotateKey(call, id, 2);
    await untilAll(ports(), next, 200);
    for (const port of ports()) expect(await decide(port, key), 'the old secret in its grace').to.equal(200);
    // the replicas judge the grace end by their own clocks: no further message is needed
    await untilAll(ports(), key, 401, 5_000);
    for (const port of ports()) expect(await decide(port, next)).to.equal(200);
  });

  it('routes a service created later, and drops the keys of a deleted consumer', async () => {
    const extra = await call('POST', '/v1/services', { name: 'embed', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/embed' } });
    expect(extra.status).to.equal(201);
    const consumer = await call('POST', '/v1/consumers', { name: 'Bob' });
    const { key } = await createKey(call, consumer.body.id, []);
    await waitFor(async () => (await Promise.all(ports().map((p) => decide(p, key, '/embed/v1')))).every((s) => s === 200), 'the new service on both');
    expect((await call('DELETE', `/v1/consumers/${consumer.body.id}`)).status).to.equal(204);
    await untilAll(ports(), key, 401);
    expect(replicas[0]!.store.current()!.consumers.has(consumer.body.id)).to.equal(false);
  });

  it('a snapshot read in many small pages holds exactly what the state document holds', async () => {
    const h = harness();
    // keys with several secrets and services, spread over pages of two
    for (let i = 0; i < 5; i++) {
      const { id } = await createKey(call, consumerId);
      if (i % 2 === 0) await rotateKey(call, id, 600);
      expect((await call('PATCH', `/v1/keys/${id}`, { services: ['llm'] })).status).to.equal(200);
    }
    const paged = await startSyncServer({ db: h.cp.db, token: new Secret(SYNC_TOKEN), port: 0, host: '127.0.0.1', logger: h.cp.logger, snapshotPageSize: 2 });
    const fresh = await startReplica(h, paged.port);
    try {
      await waitFor(() => fresh.store.ready, 'the paged snapshot');
      const document = await h.cp.exportState();
      const synced = fresh.store.current()!;
      expect(synced.revision).to.equal(document.revision);
      expect(synced.catalog).to.deep.equal({ plans: document.plans, issuers: document.issuers, services: document.services });
      expect([...synced.consumers.values()].sort((a, b) => a.id.localeCompare(b.id))).to.deep.equal(document.consumers);
      const held = new Map([...synced.keysByHash].map(([hash, entry]) => [hash, entry]));
      expect(held.size).to.equal(document.keys.reduce((n, k) => n + k.secrets.length, 0));
      for (const key of document.keys) {
        for (const secret of key.secrets) {
          const entry = held.get(secret.hash);
          expect(entry?.key.id, key.id).to.equal(key.id);
          expect([...(entry?.key.services ?? [])]).to.deep.equal(key.services);
          expect(entry?.notAfterMs).to.equal(secret.not_after === undefined ? undefined : Date.parse(secret.not_after));
        }
      }
    } finally {
      await fresh.close();
      await paged.close();
    }
  });

  it('refuses a subscription or a usage report without the right token: UNAUTHENTICATED', async () => {
    const client = new RawSyncClient(sync.port);
    try {
      for (const token of [null, 'not-the-token-0123456789', `${SYNC_TOKEN}x`, `${SYNC_TOKEN.slice(0, -1)}`]) {
        const refused = (await client.take({}, 1, token).catch((e: ServiceError) => e)) as ServiceError;
        expect(refused.code, String(token)).to.equal(GrpcStatus.UNAUTHENTICATED);
        const usage = (await client.reportUsage({ batch_id: 'b', replica_id: 'r', entries: [] }, token).catch((e: ServiceError) => e)) as ServiceError;
        expect(usage.code).to.equal(GrpcStatus.UNAUTHENTICATED);
      }
    } finally {
      client.close();
    }
  });

  it('resumes a known revision with a delta; another epoch or a pruned change log gets a snapshot', async () => {
    const client = new RawSyncClient(sync.port);
    try {
      const [begin] = await client.take({ since_revision: 0 }, 1);
      if (begin?.message !== 'snapshot_begin') throw new Error(`expected a snapshot, got ${begin?.message}`);
      const { epoch, revision } = begin.snapshot_begin;
      expect(epoch).to.equal(sync.epoch);
      await createKey(call, consumerId);
      const [resumed] = await client.take({ since_revision: revision, epoch }, 1);
      expect(resumed?.message).to.equal('delta');
      if (resumed?.message === 'delta') {
        expect(resumed.delta.from_revision).to.equal(revision);
        expect(resumed.delta.changes.some((c) => c.resource === 'RESOURCE_KEY' && c.action === 'ACTION_CREATED' && c.key)).to.equal(true);
      }
      const [otherEpoch] = await client.take({ since_revision: revision, epoch: randomUUID() }, 1);
      expect(otherEpoch?.message).to.equal('snapshot_begin');
      const [ahead] = await client.take({ since_revision: 1_000_000, epoch }, 1);
      expect(ahead?.message, 'a revision this database never had').to.equal('snapshot_begin');
      // once the log is pruned past it, an old revision cannot be served from the log any more
      await new Promise((r) => setTimeout(r, 20));
      expect(await sync.feed.prune(10)).to.be.above(0);
      const [afterPrune] = await client.take({ since_revision: revision, epoch }, 1);
      expect(afterPrune?.message).to.equal('snapshot_begin');
    } finally {
      client.close();
    }
  });

  it('counts usage exactly once: each decision of a replica, and a batch reported twice', async () => {
    const { id, key } = await createKey(call, consumerId);
    await untilAll(ports(), key, 200);
    await Promise.all(replicas.map((r) => r.flushUsage()));
    const before = await call('GET', `/v1/keys/${id}/usage`);
    const baseline = before.body.total as number;
    const [a, b] = ports();
    for (let i = 0; i < 7; i++) expect(await decide(a!, key)).to.equal(200);
    for (let i = 0; i < 5; i++) expect(await decide(b!, key)).to.equal(200);
    await Promise.all(replicas.map((r) => r.flushUsage()));
    const after = await call('GET', `/v1/keys/${id}/usage`);
    expect(after.body.total - baseline).to.equal(12);

    const client = new RawSyncClient(sync.port);
    try {
      const day = new Date().toISOString().slice(0, 10);
      const batch = { batch_id: `retry-${randomUUID()}`, replica_id: 'raw', entries: [{ key_id: id, consumer_id: consumerId, service: 'llm', day, allowed: 4, denied: 2, last_used_ms: Date.now() }] };
      expect(await client.reportUsage(batch)).to.deep.include({ duplicate: false, accepted: 1 });
      expect(await client.reportUsage(batch)).to.deep.include({ duplicate: true, accepted: 0 });
      const final = await call('GET', `/v1/keys/${id}/usage`);
      expect(final.body.total - baseline).to.equal(16);
      expect(final.body.days.at(-1).denied).to.equal(2);
      const invalid = (await client.reportUsage({ ...batch, batch_id: 'bad', entries: [{ ...batch.entries[0]!, day: 'yesterday' }] }).catch((e: ServiceError) => e)) as ServiceError;
      expect(invalid.code).to.equal(GrpcStatus.INVALID_ARGUMENT);
    } finally {
      client.close();
    }
  });

  it('reports staleness on /readyz and in metrics', async () => {
    const ready = await send(ports()[0]!, { path: '/readyz' });
    expect(ready.status).to.equal(200);
    expect(ready.json()).to.deep.include({ status: 'ready', source: 'sync', stale: false, stale_mode: 'serve', max_staleness_seconds: 300 });
    expect(ready.json()['staleness_seconds']).to.be.a('number').below(5);
    const metrics = (await send(ports()[0]!, { path: '/metrics' })).body;
    expect(metrics).to.match(/^portcullis_authz_state_staleness_seconds \d/m);
    expect(metrics).to.match(/^portcullis_authz_sync_connected 1$/m);
    expect(metrics).to.match(/^portcullis_authz_state_stale 0$/m);
  });

  it('without the control plane: keeps serving, goes stale, restarts from its disk snapshot, refuses when told to, catches up', async function () {
    const h = harness();
    const { id, key } = await createKey(call, consumerId);
    await untilAll(ports(), key, 200);
    await waitFor(() => existsSync(snapshotPath(dirs[0]!)), 'a snapshot on disk');
    // let the latest state reach the disk
    await new Promise((r) => setTimeout(r, 300));
    const syncPort = sync.port;
    await sync.close();

    // a replica with a short tolerance, in refuse mode, started from the first replica's snapshot directory
    const strict = await startReplica(h, syncPort, { PORTCULLIS_SNAPSHOT_DIR: dirs[0]!, PORTCULLIS_STALE_MODE: 'refuse', PORTCULLIS_MAX_STALENESS_SECONDS: '1' });
    try {
      expect(strict.store.ready, 'loaded from disk before any contact').to.equal(true);
      expect(strict.store.snapshot!.source).to.equal('sync');
      await waitFor(async () => (await decide(strict.httpAddress.port, key)) === 503, 'refusal once stale', 5_000);
      const refused = await send(strict.httpAddress.port, { path: '/readyz' });
      expect(refused.status).to.equal(503);
      expect(refused.json()).to.deep.include({ stale: true, stale_mode: 'refuse' });
      const denial = await send(strict.httpAddress.port, {
        path: '/forward-auth',
        headers: { 'x-forwarded-method': 'GET', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'h', 'x-forwarded-uri': '/llm/v1/chat', 'x-api-key': key },
      });
      expect(denial.json()['code']).to.equal('state_stale');

      // the serving replicas keep deciding on the last state
      for (const port of ports()) expect(await decide(port, key)).to.equal(200);

      // a change made while nobody can hear it, then the control plane comes back on the same port
      await revokeKey(call, id);
      sync = await serve(h, syncPort);
      await untilAll([...ports(), strict.httpAddress.port], key, 401, 10_000);
      expect((await send(strict.httpAddress.port, { path: '/readyz' })).status).to.equal(200);
    } finally {
      await strict.close();
    }
  });
});
