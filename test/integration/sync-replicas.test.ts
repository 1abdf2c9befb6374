/**
 * The sync architecture as deployed: two control planes and two authz-service replicas, each its own process
 * started from its real entry point, the control planes sharing one database on a private PostgreSQL server
 * (this suite stops that server; the machine's shared one is never touched). Replica A syncs from control
 * plane 1, replica B from control plane 2, so a change made through either must cross to the other through
 * the database's change log and NOTIFY.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { generateApiKey } from '../../authz-service/src/credentials/api-key/format.js';
import { send } from '../harness/http.js';
import { waitFor } from '../harness/ports.js';
import { PrivatePostgres } from '../harness/postgres.js';
import { type ControlPlaneProcess, type ReplicaProcess, startControlPlaneProcess, startReplicaProcess } from '../harness/portcullis-processes.js';
import { createKey, decide, revokeKey, rotateKey, seedCatalog, untilAll } from '../harness/sync.js';

const PEPPER = randomBytes(48).toString('base64url');
const ADMIN_KEY = generateApiKey().key;

const startControlPlane = (name: string, databaseUrl: string, dataDir: string) =>
  startControlPlaneProcess(name, { databaseUrl, dataDir, pepper: PEPPER, adminKey: ADMIN_KEY });

const startReplica = (name: string, syncPort: number, snapshotDir: string) =>
  startReplicaProcess(name, { syncPort, snapshotDir, pepper: PEPPER, env: { PORTCULLIS_USAGE_FLUSH_SECONDS: '1' } });

async function readyz(port: number): Promise<{ status: number; body: Record<string, unknown> }> {
  const reply = await send(port, { path: '/readyz' });
  return { status: reply.status, body: reply.json() };
}

describe('state sync across processes: two control planes, two replicas, one private PostgreSQL', function () {
  this.timeout(180_000);
  let postgres: PrivatePostgres;
  let cp1: ControlPlaneProcess;
  let cp2: ControlPlaneProcess;
  let a: ReplicaProcess;
  let b: ReplicaProcess;
  let consumerId: string;
  const dirs: string[] = [];
  const tempDir = (label: string) => {
    const dir = mkdtempSync(join(tmpdir(), `pc-${label}-`));
    dirs.push(dir);
    return dir;
  };
  const both = () => [a.port, b.port];
  const usageTotal = async (keyId: string) => (await cp2.call('GET', `/v1/keys/${keyId}/usage`)).body.total as number;

  before(async () => {
    postgres = await PrivatePostgres.start();
    const url = await postgres.createDatabase('portcullis');
    cp1 = await startControlPlane('control-plane-1', url, tempDir('cp1'));
    cp2 = await startControlPlane('control-plane-2', url, tempDir('cp2'));
    ({ consumerId } = await seedCatalog(cp1.call));
    a = await startReplica('replica-a', cp1.syncPort, tempDir('snap-a'));
    b = await startReplica('replica-b', cp2.syncPort, tempDir('snap-b'));
  });

  after(async () => {
    for (const service of [a?.process, b?.process, cp1?.process, cp2?.process]) await service?.kill();
    await postgres?.destroy();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  it('a key created through control plane 1 works on both replicas; revoked through control plane 2, both deny it within a second', async () => {
    const { id, key } = await createKey(cp1.call, consumerId);
    await untilAll(both(), key, 200);
    await revokeKey(cp2.call, id);
    const lag = await untilAll(both(), key, 401, 1_000);
    expect(lag, 'revocation lag after the API answered').to.be.below(1_000);
  });

  it('rotated through control plane 2: both secrets work on both replicas during the grace period', async () => {
    const { id, key } = await createKey(cp2.call, consumerId);
    await untilAll(both(), key, 200);
    const next = await rotateKey(cp2.call, id, 300);
    await untilAll(both(), next, 200);
    for (const port of both()) expect(await decide(port, key), `old secret on ${port}`).to.equal(200);
  });

  it('control plane 1 killed: replica A keeps serving and reports staleness, then catches up without losing a change', async () => {
    const doomed = await createKey(cp1.call, consumerId);
    await untilAll(both(), doomed.key, 200);
    await cp1.process.kill();

    // changes made while replica A cannot hear them
    await revokeKey(cp2.call, doomed.id);
    const born = await createKey(cp2.call, consumerId);
    await untilAll([b.port], doomed.key, 401);
    await untilAll([b.port], born.key, 200);
    expect(await decide(a.port, doomed.key), 'A still serves its last state').to.equal(200);
    expect(await decide(a.port, born.key), 'A has not heard of the new key').to.equal(401);
    await waitFor(async () => ((await readyz(a.port)).body['staleness_seconds'] as number) > 1.5, 'A to report growing staleness', 10_000);
    const stale = await readyz(a.port);
    expect(stale.status, 'serve mode stays ready').to.equal(200);
    expect((await send(a.port, { path: '/metrics' })).body).to.match(/^portcullis_authz_sync_connected 0$/m);

    await cp1.process.start();
    await untilAll([a.port], doomed.key, 401, 20_000);
    await untilAll([a.port], born.key, 200, 5_000);
    expect(((await readyz(a.port)).body['staleness_seconds'] as number) < 6).to.equal(true);
  });

  it('a replica restarted while every control plane is down serves from its disk snapshot', async () => {
    const { key } = await createKey(cp1.call, consumerId);
    await untilAll(both(), key, 200);
    // the replica writes its snapshot a moment after a change
    await new Promise((r) => setTimeout(r, 3_000));
    await cp1.process.kill();
    await cp2.process.kill();
    await a.process.stop();
    await a.process.start();
    expect(await decide(a.port, key)).to.equal(200);
    const status = await readyz(a.port);
    expect(status.status).to.equal(200);
    expect(status.body['staleness_seconds']).to.be.a('number').above(2);
    await cp1.process.start();
    await cp2.process.start();
  });

  it('PostgreSQL stopped under the control planes: the replicas decide as before; changes flow again once it is back', async () => {
    const kept = await createKey(cp1.call, consumerId);
    const gone = await createKey(cp1.call, consumerId);
    await revokeKey(cp1.call, gone.id);
    // the previous test restarted both control planes: replicas may still be in their reconnect backoff
    await untilAll(both(), kept.key, 200, 20_000);
    await untilAll(both(), gone.key, 401, 20_000);

    await postgres.stop('immediate');
    const refused = await cp1.call('GET', '/v1/keys');
    expect(refused.status, 'the control plane cannot serve its API').to.be.at.least(500);
    for (let i = 0; i < 20; i++) {
      for (const port of both()) {
        expect(await decide(port, kept.key)).to.equal(200);
        expect(await decide(port, gone.key)).to.equal(401);
      }
    }
    await new Promise((r) => setTimeout(r, 1_500));
    for (const port of both()) expect((await readyz(port)).status).to.equal(200);

    await postgres.restart();
    await waitFor(async () => (await cp2.call('GET', '/v1/keys?limit=1')).status === 200, 'the control plane back on its database', 30_000);
    await revokeKey(cp2.call, kept.id);
    await untilAll(both(), kept.key, 401, 20_000);
  });

  it('usage from a known number of requests arrives exactly once, also across a control-plane restart', async () => {
    const { id, key } = await createKey(cp1.call, consumerId);
    await untilAll(both(), key, 200);
    // the probes above were decisions too: wait for them to land, then count from there
    await new Promise((r) => setTimeout(r, 2_500));
    const baseline = await usageTotal(id);
    for (let i = 0; i < 25; i++) expect(await decide(a.port, key)).to.equal(200);
    for (let i = 0; i < 15; i++) expect(await decide(b.port, key)).to.equal(200);
    await waitFor(async () => (await usageTotal(id)) === baseline + 40, 'forty requests counted', 15_000);

    // replica A's reports fail while its control plane is down, and are sent again once it is back
    await cp1.process.kill();
    for (let i = 0; i < 30; i++) expect(await decide(a.port, key)).to.equal(200);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await usageTotal(id), 'nothing from A while its control plane is down').to.equal(baseline + 40);
    await cp1.process.start();
    await waitFor(async () => (await usageTotal(id)) === baseline + 70, 'the retried batches counted', 30_000);
    await new Promise((r) => setTimeout(r, 3_000));
    expect(await usageTotal(id), 'and counted once').to.equal(baseline + 70);
  });
});
