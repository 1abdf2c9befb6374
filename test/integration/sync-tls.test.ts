/**
 * State sync over TLS, against real parts: a control plane on Postgres configured through its environment
 * (PORTCULLIS_SYNC_TLS_*), its sync server on a free port, and real authz-service replicas configured through
 * theirs, with certificates made by openssl for this run. Each refusal is checked against a client that gets
 * through with the right material, so a test cannot pass because nothing connects at all.
 */
import { expect } from 'chai';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { Secret } from '../../authz-service/src/core/secret.js';
import { channelCredentials, clientTlsFromEnv, type ServerTls, serverTlsFromEnv, tlsEnvNames } from '../../authz-service/src/grpc/tls.js';
import type { AuthzServiceHandles } from '../../authz-service/src/main.js';
import { SYNC_TLS_PREFIX } from '../../authz-service/src/sync/config.js';
import { LogCapture, startHarness, type Harness } from '../../control-plane/src/testing/harness.js';
import { startSyncServer, type SyncServer } from '../../control-plane/src/sync/server.js';
import { startTestAuthz } from '../harness/authz.js';
import { waitFor } from '../harness/ports.js';
import { type AdminCall, createKey, RawSyncClient, revokeKey, seedCatalog, SYNC_TOKEN, untilAll } from '../harness/sync.js';
import { tlsFiles } from '../harness/tls.js';

const N = tlsEnvNames(SYNC_TLS_PREFIX);
const files = tlsFiles();
const TUNING = { initialBackoffMs: 50, maxBackoffMs: 200, persistDelayMs: 50 } as const;
/** Long enough for a dozen connection attempts with the tuning above. */
const REFUSAL_WINDOW_MS = 1_500;

/** What a replica's environment says for each kind of client. */
const CLIENT = {
  trusting: { [N.ca]: files.ca },
  trustingOtherCa: { [N.ca]: files.otherCa },
  withCert: { [N.ca]: files.ca, [N.cert]: files.client.cert, [N.key]: files.client.key },
  withOtherCaCert: { [N.ca]: files.ca, [N.cert]: files.otherClient.cert, [N.key]: files.otherClient.key },
} as const;

function rawClient(port: number, env: Record<string, string> | undefined): RawSyncClient {
  if (env === undefined) return new RawSyncClient(port);
  const parsed = clientTlsFromEnv(env, SYNC_TLS_PREFIX);
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return new RawSyncClient(port, channelCredentials(parsed.tls));
}

/** The first message of a subscription, or the error that ended it. */
async function firstMessage(port: number, env: Record<string, string> | undefined, token: string | null = SYNC_TOKEN): Promise<string | ServiceError> {
  const client = rawClient(port, env);
  try {
    const [message] = await client.take({}, 1, token, 5_000);
    return message!.message;
  } catch (error) {
    return error as ServiceError;
  } finally {
    client.close();
  }
}

const code = (outcome: string | ServiceError) => (typeof outcome === 'string' ? outcome : outcome.code);

describe('state sync over TLS [postgres]', function () {
  this.timeout(120_000);
  let h: Harness;
  let call: AdminCall;
  let consumerId: string;
  let sync: SyncServer;
  const replicas: AuthzServiceHandles[] = [];

  async function startReplica(port: number, tlsEnv: Record<string, string> = {}, logs?: LogCapture): Promise<AuthzServiceHandles> {
    const replica = await startTestAuthz(
      {
        PORTCULLIS_SYNC_TARGET: `127.0.0.1:${port}`,
        PORTCULLIS_SYNC_TOKEN: SYNC_TOKEN,
        PORTCULLIS_USAGE_FLUSH_SECONDS: '3600',
        ...(logs ? { PORTCULLIS_LOG_LEVEL: 'debug' } : {}),
        ...tlsEnv,
      },
      { keyHasher: h.cp.hasher, syncTuning: TUNING, ...(logs ? { logDestination: logs } : {}) },
    );
    replicas.push(replica);
    return replica;
  }

  /** Replicas that must get nothing: after the window, not one has a state or a stream. */
  async function expectNoState(port: number, envs: Record<string, string>[]): Promise<LogCapture[]> {
    const logs = envs.map(() => new LogCapture());
    const refused = await Promise.all(envs.map((env, i) => startReplica(port, env, logs[i])));
    await new Promise((resolve) => setTimeout(resolve, REFUSAL_WINDOW_MS));
    for (const [i, replica] of refused.entries()) {
      expect(replica.store.ready, JSON.stringify(envs[i])).to.equal(false);
      expect(replica.sync?.connected).to.equal(false);
      expect(replica.sync?.revision).to.equal(undefined);
      expect(logs[i]!.text, 'it kept trying and said why').to.include('sync stream lost');
    }
    return logs;
  }

  before(async () => {
    h = await startHarness('postgres', 'sync_tls', {
      env: { PORTCULLIS_SYNC_TOKEN: SYNC_TOKEN, [N.cert]: files.server.cert, [N.key]: files.server.key },
    });
    call = (method, path, body) => h.call(method, path, body === undefined ? {} : { body });
    ({ consumerId } = await seedCatalog(call));
    // TLS from the control plane's own configuration, as main.ts starts it
    sync = await h.cp.serveSync({ port: 0, host: '127.0.0.1', heartbeatMs: 250, feed: { pollIntervalMs: 250 } });
  });

  after(async () => {
    for (const replica of replicas) await replica.close();
    await h?.close();
  });

  it('serves TLS as configured: a replica trusting the CA gets the snapshot, then every change', async () => {
    expect(h.config.sync?.tls, 'the environment turned TLS on').to.not.equal(undefined);
    expect(h.logs.text).to.match(/"transport":"tls".*state sync listening/);
    const replica = await startReplica(sync.port, CLIENT.trusting);
    await waitFor(() => replica.store.ready, 'the snapshot over TLS');
    expect(replica.config.sync?.tls, 'the replica dialled with TLS').to.not.equal(undefined);
    const { id, key } = await createKey(call, consumerId);
    await untilAll([replica.httpAddress.port], key, 200);
    await revokeKey(call, id);
    await untilAll([replica.httpAddress.port], key, 401);
  });

  it('still requires the sync token over TLS', async () => {
    expect(code(await firstMessage(sync.port, CLIENT.trusting, null))).to.equal(GrpcStatus.UNAUTHENTICATED);
    expect(code(await firstMessage(sync.port, CLIENT.trusting, 'not-the-token-0123456789'))).to.equal(GrpcStatus.UNAUTHENTICATED);
    expect(await firstMessage(sync.port, CLIENT.trusting)).to.equal('snapshot_begin');
  });

  it('a plaintext client gets nothing, and the server keeps serving TLS clients', async () => {
    expect(code(await firstMessage(sync.port, undefined))).to.equal(GrpcStatus.UNAVAILABLE);
    await expectNoState(sync.port, [{}]);
    expect(sync.closed).to.equal(false);
    const after = await startReplica(sync.port, CLIENT.trusting);
    await waitFor(() => after.store.ready, 'a TLS replica after the plaintext attempts');
  });

  it('a client trusting another CA, or expecting another name, refuses the server', async () => {
    expect(code(await firstMessage(sync.port, CLIENT.trustingOtherCa))).to.equal(GrpcStatus.UNAVAILABLE);
    const logs = await expectNoState(sync.port, [CLIENT.trustingOtherCa, { ...CLIENT.trusting, [N.serverName]: 'control-plane.example' }]);
    expect(logs[0]!.text).to.match(/certificate/i);
    expect(logs[1]!.text).to.match(/control-plane\.example/);
    // the name the certificate does carry works through the override as well
    const named = await startReplica(sync.port, { ...CLIENT.trusting, [N.serverName]: 'localhost' });
    await waitFor(() => named.store.ready, 'the snapshot with the server name overridden to one the certificate names');
  });

  describe('with a client CA (mutual TLS)', () => {
    let mutual: SyncServer;
    before(async () => {
      const parsed = serverTlsFromEnv({ [N.cert]: files.server.cert, [N.key]: files.server.key, [N.clientCa]: files.ca }, SYNC_TLS_PREFIX);
      if (!parsed.ok || !parsed.tls) throw new Error('the mutual TLS settings do not parse');
      const tls: ServerTls = parsed.tls;
      mutual = await startSyncServer({ db: h.cp.db, token: new Secret(SYNC_TOKEN), tls, port: 0, host: '127.0.0.1', logger: h.cp.logger, heartbeatMs: 250 });
    });
    after(() => mutual.close());

    it('refuses a client without a certificate, or with one the client CA did not sign', async () => {
      expect(code(await firstMessage(mutual.port, CLIENT.trusting))).to.equal(GrpcStatus.UNAVAILABLE);
      expect(code(await firstMessage(mutual.port, CLIENT.withOtherCaCert))).to.equal(GrpcStatus.UNAVAILABLE);
      await expectNoState(mutual.port, [CLIENT.trusting, CLIENT.withOtherCaCert]);
    });

    it('serves a client with a certificate the client CA signed', async () => {
      expect(await firstMessage(mutual.port, CLIENT.withCert)).to.equal('snapshot_begin');
      const replica = await startReplica(mutual.port, CLIENT.withCert);
      await waitFor(() => replica.store.ready, 'the snapshot over mutual TLS');
      const { key } = await createKey(call, consumerId);
      await untilAll([replica.httpAddress.port], key, 200);
    });
  });
});
