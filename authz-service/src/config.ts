/**
 * The authz-service's configuration: read from the environment once at startup, validated as a whole (every
 * problem reported together, never a secret's value), frozen. Nothing else in the service reads process.env.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { DEFAULT_IDENTITY_HEADERS, type IdentityHeaderNames } from './core/identity-headers.js';
import { checkCidr, DEFAULT_TRUSTED_PROXIES } from './http/trusted-proxies.js';
import { Secret } from './core/secret.js';
import { type ExtAuthzConfig, extAuthzConfigFromEnv } from './grpc/config.js';
import { IDENTITY_HEADERS_ENV, parseIdentityHeaders } from './identity-headers-config.js';
import { type SyncClientConfig, syncConfigFromEnv } from './sync/config.js';

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

export interface AuthzConfig {
  readonly port: number;
  readonly host: string;
  /** CIDRs whose X-Forwarded-* / X-Original-* headers are believed. */
  readonly trustedProxies: readonly string[];
  /** DB-less mode: the declarative state file (YAML or JSON). */
  readonly stateFile?: string;
  /** HMAC pepper for API key hashes; absent: API keys cannot be verified. */
  readonly keyPepper?: Secret;
  /** Absent: rate buckets live in memory (one replica). A Secret because URLs carry passwords. */
  readonly redisUrl?: Secret;
  readonly identityHeaders: IdentityHeaderNames;
  readonly logLevel: LogLevel;
  /** Fraction of allows that get a log line (every deny always does). */
  readonly allowLogSampleRate: number;
  /** Largest request header section the HTTP adapter accepts; larger gets 431. */
  readonly maxHeaderBytes: number;
  /** How long shutdown waits for in-flight requests before closing connections. */
  readonly shutdownGraceMs: number;
  /**
   * How long a stopping replica keeps serving, unready and closing each connection after its answer, before
   * it stops accepting: time for load balancers watching /readyz (or gRPC health) to move away. 0 where
   * something else already waits (Kubernetes preStop).
   */
  readonly shutdownDrainMs: number;
  /** The Envoy ext_authz gRPC listener (PORTCULLIS_EXT_AUTHZ_PORT / _HOST, see grpc/config.ts). */
  readonly extAuthz: ExtAuthzConfig;
  /** Sync mode: the state comes from the control plane (PORTCULLIS_SYNC_TARGET …, see sync/config.ts). */
  readonly sync?: SyncClientConfig;
}

export type Env = Readonly<Record<string, string | undefined>>;

export type ConfigResult = { readonly ok: true; readonly config: AuthzConfig } | { readonly ok: false; readonly errors: readonly string[] };

export const ENV = {
  port: 'PORTCULLIS_AUTHZ_PORT',
  host: 'PORTCULLIS_AUTHZ_HOST',
  trustedProxies: 'PORTCULLIS_TRUSTED_PROXIES',
  stateFile: 'PORTCULLIS_STATE_FILE',
  keyPepper: 'PORTCULLIS_KEY_PEPPER',
  keyPepperFile: 'PORTCULLIS_KEY_PEPPER_FILE',
  redisUrl: 'PORTCULLIS_REDIS_URL',
  identityHeaders: IDENTITY_HEADERS_ENV,
  logLevel: 'PORTCULLIS_LOG_LEVEL',
  allowLogSampleRate: 'PORTCULLIS_ALLOW_LOG_SAMPLE_RATE',
  maxHeaderBytes: 'PORTCULLIS_MAX_HEADER_BYTES',
  shutdownGraceMs: 'PORTCULLIS_SHUTDOWN_GRACE_MS',
  shutdownDrainMs: 'PORTCULLIS_SHUTDOWN_DRAIN_MS',
} as const;

const integer = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^\d+$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int().min(min, `must be at least ${min}`).max(max, `must be at most ${max}`));

/** Parse the environment into a config, or every problem with it. Pure apart from reading a pepper file. */
export function parseAuthzConfig(env: Env): ConfigResult {
  const errors: string[] = [];
  /** Run a schema on one variable; the message names the variable, never its value. */
  const field = <T>(name: string, schema: z.ZodType<T>, raw: string | undefined, fallback: T): T => {
    if (raw === undefined || raw.trim() === '') return fallback;
    const result = schema.safeParse(raw);
    if (result.success) return result.data;
    for (const issue of result.error.issues) {
      const where = issue.path.length > 0 ? `.${issue.path.join('.')}` : '';
      errors.push(`${name}${where}: ${issue.message}`);
    }
    return fallback;
  };

  const port = field(ENV.port, integer(0, 65535), env[ENV.port], 8181);
  const host = field(ENV.host, z.string().trim().min(1), env[ENV.host], '0.0.0.0');

  let trustedProxies: readonly string[] = DEFAULT_TRUSTED_PROXIES;
  const proxiesRaw = env[ENV.trustedProxies];
  if (proxiesRaw !== undefined && proxiesRaw.trim() !== '') {
    const list = proxiesRaw.split(',').map((c) => c.trim()).filter((c) => c !== '');
    for (const cidr of list) {
      const checked = checkCidr(cidr);
      if (!checked.ok) errors.push(`${ENV.trustedProxies}: ${checked.reason}`);
    }
    trustedProxies = Object.freeze(list);
  }

  const stateFileRaw = env[ENV.stateFile]?.trim();
  const stateFile = stateFileRaw === undefined || stateFileRaw === '' ? undefined : stateFileRaw;

  let pepperText = env[ENV.keyPepper];
  const pepperFile = env[ENV.keyPepperFile]?.trim();
  if (pepperText !== undefined && pepperText !== '' && pepperFile) {
    errors.push(`${ENV.keyPepper} and ${ENV.keyPepperFile} are both set; set one`);
  } else if (pepperFile) {
    try {
      // a trailing newline from `echo > file` is not part of the pepper
      pepperText = readFileSync(pepperFile, 'utf8').replace(/\r?\n$/, '');
    } catch (error) {
      errors.push(`${ENV.keyPepperFile}: cannot read the file (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
    }
  }
  let keyPepper: Secret | undefined;
  if (pepperText !== undefined && pepperText !== '') {
    if (Buffer.byteLength(pepperText, 'utf8') < 32) errors.push(`${ENV.keyPepper}: must be at least 32 bytes (the value is not shown)`);
    else keyPepper = new Secret(pepperText);
  }

  let redisUrl: Secret | undefined;
  const redisRaw = env[ENV.redisUrl]?.trim();
  if (redisRaw) {
    let valid = false;
    try {
      valid = ['redis:', 'rediss:'].includes(new URL(redisRaw).protocol);
    } catch {
      valid = false;
    }
    if (valid) redisUrl = new Secret(redisRaw);
    else errors.push(`${ENV.redisUrl}: must be a redis:// or rediss:// URL (the value is not shown)`);
  }

  const identity = parseIdentityHeaders(env[ENV.identityHeaders]);
  if (!identity.ok) errors.push(...identity.errors);
  const identityHeaders: IdentityHeaderNames = identity.ok ? identity.names : DEFAULT_IDENTITY_HEADERS;

  const logLevel = field(ENV.logLevel, z.enum(LOG_LEVELS, { message: `must be one of ${LOG_LEVELS.join(', ')}` }), env[ENV.logLevel], 'info');
  const allowLogSampleRate = field(
    ENV.allowLogSampleRate,
    z
      .string()
      .trim()
      .regex(/^(?:0|1|0?\.\d+|1\.0*)$/, 'must be a number between 0 and 1')
      .transform(Number),
    env[ENV.allowLogSampleRate],
    0.01,
  );
  const maxHeaderBytes = field(ENV.maxHeaderBytes, integer(1024, 1024 * 1024), env[ENV.maxHeaderBytes], 16 * 1024);
  const shutdownGraceMs = field(ENV.shutdownGraceMs, integer(0, 600_000), env[ENV.shutdownGraceMs], 10_000);
  const shutdownDrainMs = field(ENV.shutdownDrainMs, integer(0, 600_000), env[ENV.shutdownDrainMs], 0);

  const extAuthz = extAuthzConfigFromEnv(env);
  if (!extAuthz.ok) errors.push(...extAuthz.errors);
  const sync = syncConfigFromEnv(env);
  if (!sync.ok) errors.push(...sync.errors);

  if (errors.length > 0 || !extAuthz.ok || !sync.ok) return { ok: false, errors };
  return {
    ok: true,
    config: Object.freeze({
      port,
      host,
      trustedProxies,
      ...(stateFile === undefined ? {} : { stateFile }),
      ...(keyPepper === undefined ? {} : { keyPepper }),
      ...(redisUrl === undefined ? {} : { redisUrl }),
      identityHeaders,
      logLevel,
      allowLogSampleRate,
      maxHeaderBytes,
      shutdownGraceMs,
      shutdownDrainMs,
      extAuthz: extAuthz.config,
      ...(sync.config === undefined ? {} : { sync: sync.config }),
    }),
  };
}
