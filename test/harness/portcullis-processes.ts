/**
 * The two Portcullis services as separate processes from their real entry points, on free loopback ports,
 * configured the way the compose file and the chart configure them: a control plane serving REST and state
 * sync, and authz-service replicas in sync mode. Multi-process suites build their topologies from these.
 */
import { freePort } from './ports.js';
import { ServiceProcess } from './service-process.js';
import { type AdminCall, adminCaller, SYNC_TOKEN } from './sync.js';

export interface ControlPlaneProcessOptions {
  readonly databaseUrl: string;
  readonly dataDir: string;
  /** PORTCULLIS_KEY_PEPPER; replicas must be given the same one. */
  readonly pepper: string;
  /** PORTCULLIS_BOOTSTRAP_ADMIN_KEY */
  readonly adminKey: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Default: the TypeScript source; the benchmark runs the compiled `dist/…` build. */
  readonly entry?: string;
  readonly startTimeoutMs?: number;
}

export interface ControlPlaneProcess {
  readonly process: ServiceProcess;
  readonly port: number;
  readonly syncPort: number;
  readonly url: string;
  /** The REST API as the bootstrap administrator. */
  readonly call: AdminCall;
}

export async function startControlPlaneProcess(name: string, options: ControlPlaneProcessOptions): Promise<ControlPlaneProcess> {
  const port = await freePort();
  const syncPort = await freePort();
  const process = await ServiceProcess.start(name, {
    entry: options.entry ?? 'control-plane/src/main.ts',
    port,
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
    env: {
      PORTCULLIS_DATABASE_URL: options.databaseUrl,
      PORTCULLIS_KEY_PEPPER: options.pepper,
      PORTCULLIS_BOOTSTRAP_ADMIN_KEY: options.adminKey,
      PORTCULLIS_CONTROL_PLANE_PORT: String(port),
      PORTCULLIS_SYNC_PORT: String(syncPort),
      PORTCULLIS_SYNC_HOST: '127.0.0.1',
      PORTCULLIS_SYNC_TOKEN: SYNC_TOKEN,
      PORTCULLIS_DATA_DIR: options.dataDir,
      PORTCULLIS_LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  const url = `http://127.0.0.1:${port}`;
  return { process, port, syncPort, url, call: adminCaller(url, options.adminKey) };
}

export interface ReplicaProcessOptions {
  /** The control plane's sync port. */
  readonly syncPort: number;
  readonly snapshotDir: string;
  readonly pepper: string;
  readonly env?: Readonly<Record<string, string>>;
  /** Default: the TypeScript source; the benchmark runs the compiled `dist/…` build. */
  readonly entry?: string;
  readonly startTimeoutMs?: number;
}

export interface ReplicaProcess {
  readonly name: string;
  readonly process: ServiceProcess;
  /** The HTTP adapter (forward-auth, /readyz, /metrics). */
  readonly port: number;
}

/** An authz-service replica syncing from the control plane; start() resolves once it has a state (ready). */
export async function startReplicaProcess(name: string, options: ReplicaProcessOptions): Promise<ReplicaProcess> {
  const port = await freePort();
  const process = await ServiceProcess.start(name, {
    entry: options.entry ?? 'authz-service/src/main.ts',
    port,
    ...(options.startTimeoutMs !== undefined ? { startTimeoutMs: options.startTimeoutMs } : {}),
    env: {
      PORTCULLIS_AUTHZ_PORT: String(port),
      PORTCULLIS_AUTHZ_HOST: '127.0.0.1',
      PORTCULLIS_EXT_AUTHZ_PORT: 'off',
      PORTCULLIS_SYNC_TARGET: `127.0.0.1:${options.syncPort}`,
      PORTCULLIS_SYNC_TOKEN: SYNC_TOKEN,
      PORTCULLIS_KEY_PEPPER: options.pepper,
      PORTCULLIS_SNAPSHOT_DIR: options.snapshotDir,
      PORTCULLIS_REPLICA_ID: name,
      PORTCULLIS_LOG_LEVEL: 'warn',
      ...options.env,
    },
  });
  return { name, process, port };
}
