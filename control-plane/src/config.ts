/**
 * The control plane's configuration, read from the environment once at startup into a frozen object.
 * Every problem is reported at once so an operator fixes a deployment in one round trip.
 */
import path from 'node:path';
import { Secret } from '../../authz-service/src/core/secret.js';
import { type ServerTls, serverTlsFromEnv, tlsSetForChannelOff } from '../../authz-service/src/grpc/tls.js';
import { SYNC_TLS_PREFIX } from '../../authz-service/src/sync/config.js';
import type { GatewaySettings } from './gateway/settings.js';
import { parseGatewaySettings } from './gateway/settings-env.js';
import { parseThreescaleConfig, type ThreescaleConfig } from './provisioning/threescale/config.js';
import { parseSecretsConfig, SecretsConfigError, type SecretsConfig } from './secrets/config.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export type DatabaseConfig =
  | { readonly kind: 'postgres'; readonly url: Secret }
  /** Embedded PGlite; its files live in `<dataDir>/pglite`. */
  | { readonly kind: 'pglite'; readonly dataDir: string };

export interface ControlPlaneConfig {
  readonly database: DatabaseConfig;
  /** Embedded database files and the generated key pepper live here. */
  readonly dataDir: string;
  readonly port: number;
  /** HMAC pepper for API keys; when absent it comes from the secret store, or (embedded mode) a file in dataDir. */
  readonly keyPepper?: Secret;
  /** Envelope-encryption secret store (local master key or AWS KMS), when configured. */
  readonly secrets?: SecretsConfig;
  /** Accepted as an admin credential; when set, first start creates no admin key. */
  readonly bootstrapAdminKey?: Secret;
  /** Accepted from gateways fetching their configuration (GET /v1/gateway/*), and for nothing else. */
  readonly gatewayToken?: Secret;
  /** What the rendered gateway configurations point at (authz-service addresses, identity headers, entry points). */
  readonly gateway: GatewaySettings;
  /** JWT role or scope that makes a caller an administrator. */
  readonly adminRole: string;
  readonly logLevel: LogLevel;
  /** The state-sync gRPC server for data planes; absent (off) without PORTCULLIS_SYNC_TOKEN. */
  readonly sync?: SyncServerConfig;
  /** 3scale provisioning for the services it maps; absent: every key is minted by Portcullis. */
  readonly threescale?: ThreescaleConfig;
}

export interface SyncServerConfig {
  readonly port: number;
  readonly host: string;
  /** The bearer token data planes must present. */
  readonly token: Secret;
  /** PORTCULLIS_SYNC_TLS_CERT_FILE / _KEY_FILE (/ _CLIENT_CA_FILE: mutual TLS); absent: plaintext. */
  readonly tls?: ServerTls;
}

export type ConfigResult = { readonly ok: true; readonly config: ControlPlaneConfig } | { readonly ok: false; readonly errors: readonly string[] };

export const DEFAULT_PORT = 8080;
export const DEFAULT_DATA_DIR = './data';
export const DEFAULT_ADMIN_ROLE = 'portcullis-admin';
export const MIN_PEPPER_BYTES = 32;
/** Static bearer tokens from the environment (bootstrap admin key, gateway token) are at least this long. */
export const MIN_STATIC_TOKEN_LENGTH = 32;
export const DEFAULT_SYNC_PORT = 8282;
export const MIN_SYNC_TOKEN_LENGTH = 16;

type Env = Readonly<Record<string, string | undefined>>;

/** Any of these means the operator wants the secret store (and its own parser reports what is missing). */
const SECRET_STORE_SETTINGS = ['PORTCULLIS_MASTER_KEY', 'PORTCULLIS_MASTER_KEY_FILE', 'PORTCULLIS_KMS_PROVIDER'] as const;

/** Unset and empty are the same thing: `FOO=` in a compose file means "not configured". */
function read(env: Env, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === '' ? undefined : value;
}

/** Where the data lives: all the migration command needs, so it runs without any secret. */
export function parseDatabaseConfig(env: Env = process.env): { ok: true; database: DatabaseConfig; dataDir: string } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const dataDir = path.resolve(read(env, 'PORTCULLIS_DATA_DIR') ?? DEFAULT_DATA_DIR);

  const databaseUrl = read(env, 'PORTCULLIS_DATABASE_URL');
  let database: DatabaseConfig = { kind: 'pglite', dataDir };
  if (databaseUrl !== undefined) {
    if (/^postgres(ql)?:\/\//.test(databaseUrl)) database = { kind: 'postgres', url: new Secret(databaseUrl) };
    else errors.push('PORTCULLIS_DATABASE_URL: must be a postgres:// or postgresql:// URL');
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, database: Object.freeze(database), dataDir };
}

/** A bearer token set in the environment; the message never shows the value. */
function staticToken(env: Env, name: string, errors: string[]): Secret | undefined {
  const raw = read(env, name);
  if (raw === undefined) return undefined;
  if (raw.length < MIN_STATIC_TOKEN_LENGTH || /\s/.test(raw)) {
    errors.push(`${name}: must be at least ${MIN_STATIC_TOKEN_LENGTH} characters without whitespace`);
    return undefined;
  }
  return new Secret(raw);
}

export function parseConfig(env: Env = process.env): ConfigResult {
  const errors: string[] = [];

  const storage = parseDatabaseConfig(env);
  if (!storage.ok) errors.push(...storage.errors);
  const database: DatabaseConfig = storage.ok ? storage.database : { kind: 'pglite', dataDir: '' };
  const dataDir = storage.ok ? storage.dataDir : '';

  let port = DEFAULT_PORT;
  const rawPort = read(env, 'PORTCULLIS_CONTROL_PLANE_PORT');
  if (rawPort !== undefined) {
    port = Number(rawPort);
    if (!/^\d+$/.test(rawPort.trim()) || port < 1 || port > 65535) errors.push(`PORTCULLIS_CONTROL_PLANE_PORT: "${rawPort}" is not a TCP port (1-65535)`);
  }

  const rawPepper = read(env, 'PORTCULLIS_KEY_PEPPER');
  if (rawPepper !== undefined && Buffer.byteLength(rawPepper, 'utf8') < MIN_PEPPER_BYTES) {
    errors.push(`PORTCULLIS_KEY_PEPPER: must be at least ${MIN_PEPPER_BYTES} bytes (e.g. \`openssl rand -base64 48\`)`);
  }
  let secrets: SecretsConfig | undefined;
  if (SECRET_STORE_SETTINGS.some((name) => read(env, name) !== undefined)) {
    try {
      secrets = parseSecretsConfig(env);
    } catch (error) {
      if (!(error instanceof SecretsConfigError)) throw error;
      errors.push(...error.problems);
    }
  }
  if (rawPepper === undefined && database.kind === 'postgres' && !SECRET_STORE_SETTINGS.some((name) => read(env, name) !== undefined)) {
    errors.push(
      'PORTCULLIS_KEY_PEPPER: required with PORTCULLIS_DATABASE_URL unless a secret store is configured (PORTCULLIS_MASTER_KEY or ' +
        'PORTCULLIS_KMS_PROVIDER); every replica must hash keys with the same pepper, and it must not live in the database in plaintext ' +
        '(generate one with `openssl rand -base64 48`)',
    );
  }

  const bootstrapAdminKey = staticToken(env, 'PORTCULLIS_BOOTSTRAP_ADMIN_KEY', errors);
  const gatewayToken = staticToken(env, 'PORTCULLIS_GATEWAY_TOKEN', errors);
  if (bootstrapAdminKey !== undefined && gatewayToken !== undefined && bootstrapAdminKey.reveal() === gatewayToken.reveal()) {
    errors.push('PORTCULLIS_GATEWAY_TOKEN: must differ from PORTCULLIS_BOOTSTRAP_ADMIN_KEY (a gateway needs no admin rights)');
  }
  const gateway = parseGatewaySettings(env);
  if (!gateway.ok) errors.push(...gateway.errors);

  const adminRole = read(env, 'PORTCULLIS_ADMIN_ROLE') ?? DEFAULT_ADMIN_ROLE;
  if (!/^[\x21-\x7e]{1,200}$/.test(adminRole)) errors.push('PORTCULLIS_ADMIN_ROLE: must be printable ASCII without spaces');

  let sync: SyncServerConfig | undefined;
  const rawSyncToken = read(env, 'PORTCULLIS_SYNC_TOKEN');
  const rawSyncPort = read(env, 'PORTCULLIS_SYNC_PORT');
  const syncPort = rawSyncPort === undefined ? DEFAULT_SYNC_PORT : Number(rawSyncPort);
  if (rawSyncPort !== undefined && (!/^\d+$/.test(rawSyncPort.trim()) || syncPort < 1 || syncPort > 65535)) {
    errors.push(`PORTCULLIS_SYNC_PORT: "${rawSyncPort}" is not a TCP port (1-65535)`);
  }
  const syncHost = read(env, 'PORTCULLIS_SYNC_HOST') ?? '0.0.0.0';
  if (!/^[A-Za-z0-9.:\-\[\]]+$/.test(syncHost)) errors.push(`PORTCULLIS_SYNC_HOST: "${syncHost}" is not a host name or IP address`);
  const syncTls = serverTlsFromEnv(env, SYNC_TLS_PREFIX);
  if (!syncTls.ok) errors.push(...syncTls.errors);
  if (rawSyncToken === undefined) {
    errors.push(...tlsSetForChannelOff(env, SYNC_TLS_PREFIX, 'server', 'state sync is off (PORTCULLIS_SYNC_TOKEN is not set)'));
  } else if (rawSyncToken.length < MIN_SYNC_TOKEN_LENGTH || /\s/.test(rawSyncToken)) {
    errors.push(`PORTCULLIS_SYNC_TOKEN: must be at least ${MIN_SYNC_TOKEN_LENGTH} characters without whitespace`);
  } else {
    const tls = syncTls.ok ? syncTls.tls : undefined;
    sync = Object.freeze({ port: syncPort, host: syncHost, token: new Secret(rawSyncToken), ...(tls !== undefined ? { tls } : {}) });
  }

  const rawLevel = read(env, 'PORTCULLIS_LOG_LEVEL') ?? 'info';
  const logLevel = rawLevel.toLowerCase() as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) errors.push(`PORTCULLIS_LOG_LEVEL: "${rawLevel}" is not one of ${LOG_LEVELS.join(', ')}`);

  const threescale = parseThreescaleConfig(env);
  errors.push(...threescale.errors);
  if (threescale.config !== undefined && secrets === undefined && !SECRET_STORE_SETTINGS.some((name) => read(env, name) !== undefined)) {
    errors.push('3scale provisioning keeps its access token in the secret store: configure PORTCULLIS_MASTER_KEY or PORTCULLIS_KMS_PROVIDER');
  }

  if (errors.length > 0 || !gateway.ok) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      database,
      dataDir,
      port,
      ...(rawPepper !== undefined ? { keyPepper: new Secret(rawPepper) } : {}),
      ...(secrets !== undefined ? { secrets } : {}),
      ...(bootstrapAdminKey !== undefined ? { bootstrapAdminKey } : {}),
      ...(gatewayToken !== undefined ? { gatewayToken } : {}),
      gateway: gateway.settings,
      adminRole,
      logLevel,
      ...(sync !== undefined ? { sync } : {}),
      ...(threescale.config !== undefined ? { threescale: threescale.config } : {}),
    }),
  };
}
