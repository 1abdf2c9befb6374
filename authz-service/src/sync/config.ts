/**
 * The data plane's sync settings from the environment, parsed once at startup (folded into AuthzConfig);
 * every problem is reported together and no message quotes the token.
 *
 *   PORTCULLIS_SYNC_TARGET             host:port of the control plane's sync server; set: sync mode
 *   PORTCULLIS_SYNC_TOKEN              bearer token the control plane expects (required with a target)
 *   PORTCULLIS_SNAPSHOT_DIR            where the last state is kept, to start from when the control plane is
 *                                      unreachable (unset: nothing is kept)
 *   PORTCULLIS_MAX_STALENESS_SECONDS   how long without word from the control plane counts as stale (300)
 *   PORTCULLIS_STALE_MODE              serve (default): keep deciding on the last state, report stale;
 *                                      refuse: answer 503 state_stale and go unready (fail closed)
 *   PORTCULLIS_USAGE_FLUSH_SECONDS     how often usage counts go to the control plane (5)
 *   PORTCULLIS_REPLICA_ID              this replica's name in the control plane's logs (default: host name)
 *   PORTCULLIS_SYNC_TLS_CA_FILE        TLS to the control plane, verified against this CA (unset: plaintext);
 *                                      _CERT_FILE/_KEY_FILE a client certificate, _SERVER_NAME the name to
 *                                      verify (see grpc/tls.ts)
 */
import { hostname } from 'node:os';
import { Secret } from '../core/secret.js';
import { type Env, setting } from '../env.js';
import { type ClientTls, clientTlsFromEnv, tlsSetForChannelOff } from '../grpc/tls.js';
import { SYNC_TOKEN_MIN_LENGTH } from './token.js';

export type StaleMode = 'serve' | 'refuse';

export interface SyncClientConfig {
  /** host:port */
  readonly target: string;
  readonly token: Secret;
  readonly snapshotDir?: string;
  readonly maxStalenessSeconds: number;
  readonly staleMode: StaleMode;
  readonly usageFlushSeconds: number;
  readonly replicaId: string;
  /** Absent: plaintext. */
  readonly tls?: ClientTls;
}

export type SyncConfigResult =
  | { readonly ok: true; readonly config: SyncClientConfig | undefined }
  | { readonly ok: false; readonly errors: readonly string[] };

export const DEFAULT_MAX_STALENESS_SECONDS = 300;
export const DEFAULT_USAGE_FLUSH_SECONDS = 5;
/** Both ends of the sync channel: the control plane serves with the server role's files, replicas dial with the client's. */
export const SYNC_TLS_PREFIX = 'PORTCULLIS_SYNC_TLS';

function seconds(env: Env, name: string, fallback: number, min: number, max: number, errors: string[]): number {
  const raw = setting(env, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) errors.push(`${name}: must be a whole number of seconds from ${min} to ${max}`);
  return value;
}

/** `host:port`, `[v6]:port`; what grpc-js dials. */
const TARGET = /^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export function syncConfigFromEnv(env: Env): SyncConfigResult {
  const target = setting(env, 'PORTCULLIS_SYNC_TARGET');
  const errors: string[] = [];
  // the image sets PORTCULLIS_SNAPSHOT_DIR for everyone; without a target it simply goes unused
  if (target === undefined) {
    const tlsErrors = tlsSetForChannelOff(env, SYNC_TLS_PREFIX, 'client', 'PORTCULLIS_SYNC_TARGET is not (this replica does not sync)');
    return tlsErrors.length === 0 ? { ok: true, config: undefined } : { ok: false, errors: tlsErrors };
  }
  const port = Number(TARGET.exec(target)?.[1] ?? NaN);
  if (!(port >= 1 && port <= 65535)) errors.push(`PORTCULLIS_SYNC_TARGET: "${target}" is not host:port`);
  if (setting(env, 'PORTCULLIS_STATE_FILE') !== undefined) errors.push('PORTCULLIS_SYNC_TARGET and PORTCULLIS_STATE_FILE are both set; a replica takes its state from one source');
  const rawToken = setting(env, 'PORTCULLIS_SYNC_TOKEN');
  if (rawToken === undefined) errors.push('PORTCULLIS_SYNC_TOKEN: required with PORTCULLIS_SYNC_TARGET');
  else if (rawToken.length < SYNC_TOKEN_MIN_LENGTH) errors.push(`PORTCULLIS_SYNC_TOKEN: must be at least ${SYNC_TOKEN_MIN_LENGTH} characters (the value is not shown)`);
  const staleMode = setting(env, 'PORTCULLIS_STALE_MODE') ?? 'serve';
  if (staleMode !== 'serve' && staleMode !== 'refuse') errors.push('PORTCULLIS_STALE_MODE: must be serve or refuse');
  const maxStalenessSeconds = seconds(env, 'PORTCULLIS_MAX_STALENESS_SECONDS', DEFAULT_MAX_STALENESS_SECONDS, 1, 30 * 86_400, errors);
  const usageFlushSeconds = seconds(env, 'PORTCULLIS_USAGE_FLUSH_SECONDS', DEFAULT_USAGE_FLUSH_SECONDS, 1, 3600, errors);
  const replicaId = setting(env, 'PORTCULLIS_REPLICA_ID') ?? hostname();
  if (!/^[\x21-\x7e]{1,128}$/.test(replicaId)) errors.push('PORTCULLIS_REPLICA_ID: must be 1-128 printable characters without spaces');
  const snapshotDir = setting(env, 'PORTCULLIS_SNAPSHOT_DIR');
  const tls = clientTlsFromEnv(env, SYNC_TLS_PREFIX);
  if (!tls.ok) errors.push(...tls.errors);
  if (errors.length > 0 || !tls.ok) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      target,
      token: new Secret(rawToken!),
      ...(snapshotDir !== undefined ? { snapshotDir } : {}),
      maxStalenessSeconds,
      staleMode: staleMode as StaleMode,
      usageFlushSeconds,
      replicaId,
      ...(tls.tls !== undefined ? { tls: tls.tls } : {}),
    }),
  };
}
