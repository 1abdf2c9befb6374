/**
 * `npm start`: the whole product in one process — the control plane (PGlite unless PORTCULLIS_DATABASE_URL
 * says otherwise) and the authz-service (in-memory buckets unless PORTCULLIS_REDIS_URL), talking through the
 * same state-sync gRPC interface as a split deployment, over loopback. A newcomer's first run is the real
 * architecture, not a special case.
 *
 * With no environment at all it works on a fresh clone: everything it needs is generated into the data
 * directory (the API-key pepper; for PORTCULLIS_KMS_PROVIDER=local without a key, a master key), mode 0600,
 * never into the database. The sync token is made up per start and never leaves the process; the data plane
 * gets the control plane's key hasher rather than a copy of the pepper.
 *
 * `startAllInOne(env)` is importable, so tests start it exactly as `npm start` does.
 */
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { DestinationStream } from 'pino';
import { parseAuthzConfig } from '../../authz-service/src/config.js';
import { tlsEnvNames, tlsMode } from '../../authz-service/src/grpc/tls.js';
import { type AuthzServiceHandles, startAuthzService } from '../../authz-service/src/main.js';
import { SYNC_TLS_PREFIX } from '../../authz-service/src/sync/config.js';
import { type ControlPlaneConfig, DEFAULT_DATA_DIR, parseConfig } from './config.js';
import { type ControlPlane, createControlPlane } from './control-plane.js';
import { readOrCreateSecretFile } from './data-dir-secret.js';
import type { SyncServer } from './sync/server.js';

type Env = Readonly<Record<string, string | undefined>>;

export const MASTER_KEY_FILE_NAME = 'master-key';
export const SNAPSHOT_DIR_NAME = 'snapshot';

export interface AllInOneOptions {
  /** Where the banner and the one-time admin key go; default stdout. */
  readonly announce?: (message: string) => void;
  /** The data plane's log stream (tests); the control plane logs to stdout at PORTCULLIS_LOG_LEVEL. */
  readonly authzLogDestination?: DestinationStream;
}

export interface AllInOne {
  readonly controlPlane: ControlPlane;
  readonly controlPlaneAddress: AddressInfo;
  readonly sync: SyncServer;
  readonly authz: AuthzServiceHandles;
  /** Data plane first (it drains its requests and reports the last usage), then the control plane. */
  close(): Promise<void>;
}

export class AllInOneStartupError extends Error {
  constructor(readonly problems: readonly string[]) {
    super(`portcullis cannot start:\n  ${problems.join('\n  ')}`);
    this.name = 'AllInOneStartupError';
  }
}

const set = (env: Env, name: string) => (env[name]?.trim() ?? '') !== '';

/**
 * The environment the control plane is configured from: as given, plus a generated local master key when
 * the local secret-store provider is asked for without one (embedded database only: a shared Postgres
 * needs every replica to hold the same key, which only the operator can arrange).
 */
async function controlPlaneEnv(env: Env): Promise<Env> {
  const embedded: Record<string, string> = {
    // the sync server only ever talks to the data plane in this process
    ...(set(env, 'PORTCULLIS_SYNC_TOKEN') ? {} : { PORTCULLIS_SYNC_TOKEN: randomBytes(32).toString('base64url') }),
    ...(set(env, 'PORTCULLIS_SYNC_HOST') ? {} : { PORTCULLIS_SYNC_HOST: '127.0.0.1' }),
  };
  const wantsLocalStore = env['PORTCULLIS_KMS_PROVIDER']?.trim() === 'local';
  if (wantsLocalStore && !set(env, 'PORTCULLIS_DATABASE_URL') && !set(env, 'PORTCULLIS_MASTER_KEY') && !set(env, 'PORTCULLIS_MASTER_KEY_FILE')) {
    const file = path.join(path.resolve(env['PORTCULLIS_DATA_DIR']?.trim() || DEFAULT_DATA_DIR), MASTER_KEY_FILE_NAME);
    await readOrCreateSecretFile(file, () => randomBytes(32).toString('base64'));
    embedded['PORTCULLIS_MASTER_KEY_FILE'] = file;
  }
  return { ...env, ...embedded };
}

function banner(config: ControlPlaneConfig, cp: AddressInfo, sync: SyncServer, authz: AuthzServiceHandles): string {
  const http = authz.httpAddress;
  return [
    'Portcullis is running: control plane, data plane and state sync in one process.',
    `  control plane REST API   http://${cp.address}:${cp.port}   (API docs at /docs, health at /readyz)`,
    `  forwardAuth/auth_request http://${http.address}:${http.port}/forward-auth`,
    `  Envoy ext_authz (gRPC)   ${authz.extAuthz ? `port ${authz.extAuthz.port}` : 'off'}`,
    `  state sync (gRPC)        ${config.sync!.host}:${sync.port}   (${tlsMode(config.sync!.tls)}; the data plane above is its client)`,
    `  data                     ${config.dataDir}   (${config.database.kind === 'pglite' ? 'PGlite database, ' : ''}key pepper, state snapshot)`,
  ].join('\n');
}

export async function startAllInOne(env: Env = process.env, options: AllInOneOptions = {}): Promise<AllInOne> {
  const announce = options.announce ?? ((message: string) => process.stdout.write(`${message}\n`));
  const parsed = parseConfig(await controlPlaneEnv(env));
  const problems = parsed.ok ? [] : [...parsed.errors];
  if (set(env, 'PORTCULLIS_STATE_FILE') || set(env, 'PORTCULLIS_SYNC_TARGET')) {
    problems.push('PORTCULLIS_STATE_FILE and PORTCULLIS_SYNC_TARGET do not apply here: this process serves its own control plane’s state');
  }
  if (parsed.ok) problems.push(...loopbackTlsProblems(env, parsed.config.sync?.tls !== undefined));
  if (!parsed.ok || problems.length > 0) throw new AllInOneStartupError(problems);
  const config = parsed.config;
  const syncSettings = config.sync!;

  const controlPlane = await createControlPlane(config, { announce });
  const closers: (() => Promise<void>)[] = [() => controlPlane.close()];
  const closeAll = async () => {
    for (const close of closers.splice(0).reverse()) await close().catch(() => undefined);
  };
  try {
    const server = await controlPlane.listen(config.port);
    const controlPlaneAddress = server.address() as AddressInfo;
    const sync = await controlPlane.serveSync();

    const authzConfig = parseAuthzConfig({
      ...env,
      PORTCULLIS_SYNC_TARGET: `127.0.0.1:${sync.port}`,
      PORTCULLIS_SYNC_TOKEN: syncSettings.token.reveal(),
      PORTCULLIS_SNAPSHOT_DIR: env['PORTCULLIS_SNAPSHOT_DIR']?.trim() || path.join(config.dataDir, SNAPSHOT_DIR_NAME),
    });
    if (!authzConfig.ok) throw new AllInOneStartupError([...authzConfig.errors]);
    const authz = await startAuthzService(authzConfig.config, {
      keyHasher: controlPlane.hasher,
      ...(options.authzLogDestination ? { logDestination: options.authzLogDestination } : {}),
    });
    closers.push(() => authz.close());
    await waitUntilReady(authz);
    announce(banner(config, controlPlaneAddress, sync, authz));

    let closing: Promise<void> | undefined;
    return {
      controlPlane,
      controlPlaneAddress,
      sync,
      authz,
      close: () => (closing ??= closeAll()),
    };
  } catch (error) {
    await closeAll();
    throw error;
  }
}

/**
 * Sync stays plaintext on loopback unless TLS is configured. When it is, the in-process data plane dials it
 * like any replica: it reads the same environment, so it needs the CA (and, with a client CA on the server,
 * presents the server's own certificate, which then needs the clientAuth usage).
 */
function loopbackTlsProblems(env: Env, serverTls: boolean): string[] {
  const names = tlsEnvNames(SYNC_TLS_PREFIX);
  if (serverTls && !set(env, names.ca)) {
    return [`${names.ca}: required when the sync server uses TLS (${names.cert}): the data plane in this process verifies it like any replica`];
  }
  const clientOnly = [names.ca, names.serverName].filter((name) => set(env, name));
  if (!serverTls && clientOnly.length > 0) return [`${clientOnly.join(', ')}: set, but the sync server here is plaintext (no ${names.cert} / ${names.key})`];
  return [];
}

/** The data plane takes its first snapshot over loopback within moments; don't announce before it has. */
async function waitUntilReady(authz: AuthzServiceHandles, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!authz.store.ready) {
    if (Date.now() > deadline) throw new AllInOneStartupError(['the data plane did not receive its first state from the control plane']);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function run(): Promise<void> {
  let portcullis: AllInOne;
  try {
    portcullis = await startAllInOne();
  } catch (error) {
    process.stderr.write(`${error instanceof AllInOneStartupError ? error.message : `portcullis could not start: ${(error as Error).message}`}\n`);
    process.exitCode = 1;
    return;
  }
  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    portcullis.controlPlane.logger.info({ signal }, 'shutting down');
    void portcullis.close().then(() => process.exit(0));
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) void run();
