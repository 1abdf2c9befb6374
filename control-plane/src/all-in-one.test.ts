import { expect } from 'chai';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { freePort } from '../../test/harness/ports.js';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { adminCaller, createKey, decide, RawSyncClient, revokeKey, seedCatalog, untilAll } from '../../test/harness/sync.js';
import { tlsFiles } from '../../test/harness/tls.js';
import { AllInOneStartupError, MASTER_KEY_FILE_NAME, SNAPSHOT_DIR_NAME, startAllInOne } from './all-in-one.js';
import { PEPPER_FILE_NAME } from './pepper-source.js';

const quiet = new Writable({ write: (_chunk, _encoding, done) => done() });

async function embeddedEnv(dataDir: string, extra: Record<string, string> = {}): Promise<Record<string, string>> {
  return {
    PORTCULLIS_DATA_DIR: dataDir,
    PORTCULLIS_CONTROL_PLANE_PORT: String(await freePort()),
    PORTCULLIS_AUTHZ_PORT: String(await freePort()),
    PORTCULLIS_AUTHZ_HOST: '127.0.0.1',
    PORTCULLIS_SYNC_PORT: String(await freePort()),
    PORTCULLIS_EXT_AUTHZ_PORT: 'off',
    PORTCULLIS_LOG_LEVEL: 'silent',
    ...extra,
  };
}

describe('all in one process (npm start)', function () {
  this.timeout(60_000);
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(join(tmpdir(), 'pc-all-in-one-'))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it('starts from nothing but a data directory: prints the admin key and where everything listens; keys flow through sync', async () => {
    const messages: string[] = [];
    const env = await embeddedEnv(dataDir);
    const portcullis = await startAllInOne(env, { announce: (m) => messages.push(m), authzLogDestination: quiet });
    try {
      const adminKey = /\b(pc_[A-Za-z0-9]{36})\b/.exec(messages.join('\n'))?.[1];
      expect(adminKey, 'the one-time admin key').to.be.a('string');
      const banner = messages.at(-1)!;
      expect(banner).to.include(`:${env['PORTCULLIS_CONTROL_PLANE_PORT']}`).and.include(`:${env['PORTCULLIS_AUTHZ_PORT']}/forward-auth`).and.include(`127.0.0.1:${env['PORTCULLIS_SYNC_PORT']}`);
      expect(portcullis.authz.config.sync?.target).to.equal(`127.0.0.1:${portcullis.sync.port}`);

      const call = adminCaller(`http://127.0.0.1:${portcullis.controlPlaneAddress.port}`, adminKey!);
      const { consumerId } = await seedCatalog(call);
      const { id, key } = await createKey(call, consumerId);
      const port = portcullis.authz.httpAddress.port;
      await untilAll([port], key, 200);
      await revokeKey(call, id);
      await untilAll([port], key, 401, 1_000);

      // generated secrets live in the data directory, readable by the owner only
      expect(statSync(join(dataDir, PEPPER_FILE_NAME)).mode & 0o777).to.equal(0o600);
      await untilAll([port], key, 401);
      await new Promise((r) => setTimeout(r, 2_500));
      expect(readdirSync(join(dataDir, SNAPSHOT_DIR_NAME))).to.include('portcullis-state.snapshot');
    } finally {
      await portcullis.close();
    }
  });

  it('makes a local master key in the data directory when the local secret store is asked for without one', async () => {
    const env = await embeddedEnv(dataDir, { PORTCULLIS_KMS_PROVIDER: 'local' });
    const portcullis = await startAllInOne(env, { announce: () => undefined, authzLogDestination: quiet });
    try {
      expect(statSync(join(dataDir, MASTER_KEY_FILE_NAME)).mode & 0o777).to.equal(0o600);
      const port = portcullis.authz.httpAddress.port;
      expect(await decide(port, 'pc_nonexistentkey00000000000000000000000')).to.be.oneOf([401, 404]);
    } finally {
      await portcullis.close();
    }
  });

  it('keeps sync on loopback plaintext unless TLS is configured; then the data plane in the process dials it with TLS', async () => {
    const files = tlsFiles();
    const server = { PORTCULLIS_SYNC_TLS_CERT_FILE: files.server.cert, PORTCULLIS_SYNC_TLS_KEY_FILE: files.server.key };
    const messages: string[] = [];
    const env = await embeddedEnv(dataDir, { ...server, PORTCULLIS_SYNC_TLS_CA_FILE: files.ca });
    const portcullis = await startAllInOne(env, { announce: (m) => messages.push(m), authzLogDestination: quiet });
    try {
      expect(portcullis.authz.store.ready, 'the first state came over TLS').to.equal(true);
      expect(portcullis.authz.config.sync?.tls).to.not.equal(undefined);
      expect(messages.at(-1)).to.match(/state sync \(gRPC\) +127\.0\.0\.1:\d+ +\(tls;/);
      // a plaintext client without a token would be told UNAUTHENTICATED by a plaintext server
      const plaintext = new RawSyncClient(portcullis.sync.port);
      const refused = (await plaintext.take({}, 1, null, 5_000).catch((e: ServiceError) => e)) as ServiceError;
      plaintext.close();
      expect(refused.code).to.equal(GrpcStatus.UNAVAILABLE);
    } finally {
      await portcullis.close();
    }

    const noCa = await startAllInOne(await embeddedEnv(dataDir, server), { announce: () => undefined }).catch((e: unknown) => e);
    expect((noCa as AllInOneStartupError).problems).to.deep.equal([
      'PORTCULLIS_SYNC_TLS_CA_FILE: required when the sync server uses TLS (PORTCULLIS_SYNC_TLS_CERT_FILE): the data plane in this process verifies it like any replica',
    ]);
    const caOnly = await startAllInOne(await embeddedEnv(dataDir, { PORTCULLIS_SYNC_TLS_CA_FILE: files.ca }), { announce: () => undefined }).catch((e: unknown) => e);
    expect((caOnly as AllInOneStartupError).problems.join()).to.match(/PORTCULLIS_SYNC_TLS_CA_FILE: set, but the sync server here is plaintext/);
  });

  it('refuses settings that belong to a split deployment', async () => {
    const env = await embeddedEnv(dataDir, { PORTCULLIS_STATE_FILE: '/etc/portcullis/state.yaml' });
    const error = await startAllInOne(env, { announce: () => undefined }).catch((e: unknown) => e);
    expect(error).to.be.instanceOf(AllInOneStartupError);
    expect((error as AllInOneStartupError).problems.join()).to.match(/PORTCULLIS_STATE_FILE/);
  });
});
