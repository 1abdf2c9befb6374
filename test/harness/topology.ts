/**
 * The docker-compose topology without containers: every service a real process on free loopback ports.
 *
 *   client → nginx (standing in for Traefik; its configuration served by the control plane, auth
 *            subrequests balanced over both replicas) → sample upstream (gateway-config/sample-upstream)
 *   nginx  → authz-service A, B (processes, sync mode, shared Redis) ← control plane (process, Postgres)
 *   a TestIssuer standing in for Keycloak; the compose seed job (gateway-config/compose/seed.mjs) applies
 *   gateway-config/compose/portcullis.yaml with the issuer and upstream addresses swapped for these.
 *
 * Everything started is stopped by stop(), also when start() fails half-way; child processes are killed when
 * the test process exits, whichever way it exits (ServiceProcess, NginxProcess).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { generateApiKey } from '../../authz-service/src/credentials/api-key/format.js';
import { nginxMainConfig } from '../../control-plane/src/gateway/nginx.js';
import { loadSeed, runSeed, type SeedDocument } from '../deploy/support/seed-document.js';
import { send, type TestRequest, type TestResponse } from './http.js';
import { NginxProcess, nginxMainOptions } from './nginx.js';
import { TestIssuer } from './oidc.js';
import { freePort, waitFor } from './ports.js';
import { type ControlPlaneProcess, type ReplicaProcess, startControlPlaneProcess, startReplicaProcess } from './portcullis-processes.js';
import { createTempDatabase } from './postgres.js';
import { SHARED_REDIS_URL } from './redis.js';
import { ServiceProcess } from './service-process.js';
import type { AdminCall } from './sync.js';

/** The compose walkthrough's API audience (the Keycloak realm's audience mapper). */
export const API_AUDIENCE = 'portcullis-api';

export interface TopologyOptions {
  /** Names the temp database and the replicas. */
  readonly label: string;
  /** Extra environment for both authz-service replicas (e.g. PORTCULLIS_SHUTDOWN_DRAIN_MS). */
  readonly replicaEnv?: Readonly<Record<string, string>>;
}

export type Replica = ReplicaProcess;

/** gateway-config/compose/portcullis.yaml with Keycloak and the sample upstream replaced by this topology's. */
export function composeSeedFor(issuer: TestIssuer, upstreamUrl: string, seed: SeedDocument = loadSeed()): SeedDocument {
  return {
    plans: seed.plans,
    issuers: seed.issuers.map((entry) => ({ ...entry, issuer: issuer.issuer, aliases: [issuer.aliasIssuer('localhost')], jwks_uri: issuer.jwksUri })),
    services: seed.services.map((entry) => ({ ...entry, upstream_url: upstreamUrl })),
  };
}

/** Sum of a counter's samples in a Prometheus text exposition. */
export function counterTotal(metrics: string, name: string): number {
  let total = 0;
  for (const line of metrics.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) total += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return total;
}

export class Topology {
  readonly adminKey = generateApiKey().key;
  readonly #pepper = randomBytes(48).toString('base64url');
  readonly #cleanups: (() => Promise<void> | void)[] = [];
  #replicas: Replica[] = [];
  #issuer: TestIssuer | undefined;
  #nginx: NginxProcess | undefined;
  #controlPlane: ControlPlaneProcess | undefined;
  #seedLog = '';

  private constructor(readonly options: TopologyOptions) {}

  /** Everything up, seeded, and both replicas on the seeded state; on failure whatever started is stopped. */
  static async start(options: TopologyOptions): Promise<Topology> {
    const topology = new Topology(options);
    try {
      await topology.#start();
    } catch (error) {
      await topology.stop();
      throw error;
    }
    return topology;
  }

  get issuer(): TestIssuer {
    return this.#need(this.#issuer, 'issuer');
  }

  get replicas(): readonly Replica[] {
    return this.#replicas;
  }

  get nginx(): NginxProcess {
    return this.#need(this.#nginx, 'nginx');
  }

  get controlPlaneUrl(): string {
    return this.#need(this.#controlPlane, 'control plane').url;
  }

  /** What the seed script printed ("created plans demo" …). */
  get seedLog(): string {
    return this.#seedLog;
  }

  /** The control plane's REST API as the bootstrap administrator. */
  get admin(): AdminCall {
    return this.#need(this.#controlPlane, 'control plane').call;
  }

  /** A request through nginx, the way a client reaches the model. */
  gateway(request: TestRequest): Promise<TestResponse> {
    return send(this.nginx.port, request);
  }

  /** A Keycloak-shaped access token for the walkthrough's API (audience portcullis-api). */
  userToken(username: string, subject: string): Promise<string> {
    return this.issuer.keycloakAccessToken({ sub: subject, preferred_username: username, aud: [API_AUDIENCE, 'account'], azp: 'portcullis-cli' });
  }

  /**
   * Wait until every running replica has applied the control plane's current revision (asked on /readyz,
   * so no decision and no rate-limit point is spent on waiting). Resolves with how long that took.
   */
  async synced(timeoutMs = 10_000): Promise<number> {
    const started = Date.now();
    const state = await this.admin('GET', '/v1/state');
    if (state.status !== 200) throw new Error(`GET /v1/state: ${state.status} ${state.text}`);
    const revision = state.body.revision as number;
    await waitFor(
      async () => {
        const seen = await Promise.all(this.#replicas.filter((r) => r.process.running).map((r) => send(r.port, { path: '/readyz' })));
        return seen.every((reply) => reply.status === 200 && (reply.json()['revision'] as number) >= revision);
      },
      `every replica at revision ${revision}`,
      timeoutMs,
      10,
    );
    return Date.now() - started;
  }

  /** Decisions a replica made since it started (its /metrics). */
  async decisions(replica: Replica): Promise<number> {
    return counterTotal((await send(replica.port, { path: '/metrics' })).body, 'portcullis_authz_decisions_total');
  }

  /** Stop everything that was started, newest first; safe to call twice and after a failed start. */
  async stop(): Promise<void> {
    for (const cleanup of this.#cleanups.splice(0).reverse()) {
      try {
        await cleanup();
      } catch {
        // keep stopping the rest
      }
    }
  }

  async #start(): Promise<void> {
    const { label } = this.options;
    const work = mkdtempSync(join(tmpdir(), `pc-topology-${label}-`));
    this.#cleanups.push(() => rmSync(work, { recursive: true, force: true }));

    // each registers its own cleanup as soon as it exists, so a sibling's failure leaves nothing behind
    const [database, issuer, upstream] = await Promise.all([
      createTempDatabase(label).then((db) => (this.#cleanups.push(() => db.drop()), db)),
      TestIssuer.start({ realm: 'portcullis' }).then((idp) => (this.#cleanups.push(() => idp.close()), idp)),
      this.#startUpstream(),
    ]);
    this.#issuer = issuer;

    const controlPlane = await startControlPlaneProcess('control-plane', { databaseUrl: database.url, dataDir: join(work, 'control-plane'), pepper: this.#pepper, adminKey: this.adminKey });
    this.#controlPlane = controlPlane;
    this.#cleanups.push(() => controlPlane.process.stop());

    // the compose `seed` job, on the walkthrough's own document
    const seedFile = join(work, 'portcullis.yaml');
    writeFileSync(seedFile, stringify(composeSeedFor(issuer, upstream)));
    const seeded = await runSeed([seedFile], { PORTCULLIS_URL: this.controlPlaneUrl, PORTCULLIS_TOKEN: this.adminKey, SEED_WAIT_SECONDS: '60' });
    if (seeded.code !== 0) throw new Error(`the seed job failed (${seeded.code}): ${seeded.stderr}\n${seeded.stdout}`);
    this.#seedLog = seeded.stdout;

    this.#replicas = await Promise.all(
      ['a', 'b'].map(async (name) => {
        const replica = await startReplicaProcess(`${label}-authz-${name}`, {
          syncPort: controlPlane.syncPort,
          snapshotDir: join(work, `snapshot-${name}`),
          pepper: this.#pepper,
          // both replicas count in the same buckets, as in compose (consumer ids are fresh per run)
          env: { PORTCULLIS_REDIS_URL: SHARED_REDIS_URL, ...this.options.replicaEnv },
        });
        this.#cleanups.push(() => replica.process.stop());
        return replica;
      }),
    );
    await this.synced();
    await this.#startNginx();
  }

  async #startUpstream(): Promise<string> {
    const port = await freePort();
    const upstream = await ServiceProcess.start('sample-upstream', {
      entry: 'gateway-config/sample-upstream/server.mjs',
      port,
      readyPath: '/healthz',
      env: { SAMPLE_UPSTREAM_PORT: String(port), SAMPLE_UPSTREAM_HOST: '127.0.0.1' },
    });
    this.#cleanups.push(() => upstream.stop());
    return `http://127.0.0.1:${port}`;
  }

  /** nginx on the configuration the control plane serves (GET /v1/gateway/nginx), asking both replicas. */
  async #startNginx(): Promise<void> {
    const port = await freePort();
    // in compose one name (authz-service) resolves to both replicas; here they differ by port, so they are listed
    const authzServers = this.#replicas.map((r) => `127.0.0.1:${r.port}`).join(',');
    const site = await this.admin('GET', `/v1/gateway/nginx?listen_host=127.0.0.1&listen_port=${port}&authz_servers=${authzServers}`);
    if (site.status !== 200) throw new Error(`GET /v1/gateway/nginx: ${site.status} ${site.text}`);
    this.#nginx = await NginxProcess.start((prefix) => nginxMainConfig(site.text, nginxMainOptions(prefix)), port);
    const nginx = this.#nginx;
    this.#cleanups.push(() => nginx.stop());
  }

  #need<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`the topology has no ${what} (not started)`);
    return value;
  }
}
