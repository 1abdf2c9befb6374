/**
 * Secret-store configuration, read once from the environment into a frozen object; every problem is reported
 * together, and no problem message ever quotes key material.
 *
 *   PORTCULLIS_KMS_PROVIDER      local (default) | aws-kms
 *   PORTCULLIS_MASTER_KEY        local key ring, "id:base64,id:base64" (first is current); see master-keys.ts
 *   PORTCULLIS_MASTER_KEY_FILE   the same, read from a file (one entry per line); set only one of the two
 *   PORTCULLIS_KMS_KEY_ID        aws-kms: key id, key ARN, alias/name or alias ARN for new data keys
 *   AWS_REGION                   aws-kms: required
 *   AWS_ENDPOINT_URL_KMS, AWS_ENDPOINT_URL   aws-kms: endpoint override, in the SDK's order of precedence
 *
 * With aws-kms, a master key ring may still be given: rows written under `local` stay readable, and
 * rewrapAll() moves them into KMS.
 */
import { readFileSync } from 'node:fs';
import type { KeyWrapProviderName } from './key-wrap.js';
import { parseMasterKeys, type MasterKeyRing } from './master-keys.js';

export interface KmsConfig {
  readonly keyId: string;
  readonly region: string;
  readonly endpoint: string | undefined;
}

export interface SecretsConfig {
  readonly provider: KeyWrapProviderName;
  /** Required for `local`; with `aws-kms`, only to read (and re-wrap) rows still under local keys. */
  readonly masterKeys: MasterKeyRing | undefined;
  /** Present exactly when the provider is `aws-kms`. */
  readonly kms: KmsConfig | undefined;
}

export class SecretsConfigError extends Error {
  override readonly name = 'SecretsConfigError';

  constructor(readonly problems: readonly string[]) {
    super(`invalid secret-store configuration:\n  - ${problems.join('\n  - ')}`);
  }
}

type Env = Readonly<Record<string, string | undefined>>;

function setting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}

function readMasterKeys(env: Env, readFile: (path: string) => string, problems: string[]): MasterKeyRing | undefined {
  const inline = setting(env, 'PORTCULLIS_MASTER_KEY');
  const file = setting(env, 'PORTCULLIS_MASTER_KEY_FILE');
  if (inline !== undefined && file !== undefined) {
    problems.push('set PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE, not both');
    return undefined;
  }
  let text: string;
  let source: string;
  if (inline !== undefined) {
    text = inline;
    source = 'PORTCULLIS_MASTER_KEY';
  } else if (file !== undefined) {
    source = `PORTCULLIS_MASTER_KEY_FILE (${file})`;
    try {
      text = readFile(file);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      problems.push(`${source} cannot be read${typeof code === 'string' ? ` (${code})` : ''}`);
      return undefined;
    }
  } else {
    return undefined;
  }
  const parsed = parseMasterKeys(text, source);
  problems.push(...parsed.problems);
  return parsed.ring;
}

function readKms(env: Env, problems: string[]): KmsConfig | undefined {
  const keyId = setting(env, 'PORTCULLIS_KMS_KEY_ID');
  const region = setting(env, 'AWS_REGION');
  const endpoint = setting(env, 'AWS_ENDPOINT_URL_KMS') ?? setting(env, 'AWS_ENDPOINT_URL');
  const before = problems.length;
  if (keyId === undefined) problems.push('PORTCULLIS_KMS_KEY_ID is required when PORTCULLIS_KMS_PROVIDER=aws-kms');
  else if (/\s/.test(keyId) || keyId.length > 2048) problems.push('PORTCULLIS_KMS_KEY_ID must be a key id, key ARN, alias/name or alias ARN');
  if (region === undefined) problems.push('AWS_REGION is required when PORTCULLIS_KMS_PROVIDER=aws-kms');
  else if (!/^[a-z0-9-]{1,32}$/.test(region)) problems.push(`AWS_REGION '${region}' is not a region name`);
  if (endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(endpoint)) problems.push('the KMS endpoint override (AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL) must be an http(s) URL');
  if (problems.length > before) return undefined;
  return Object.freeze({ keyId: keyId!, region: region!, endpoint });
}

export function parseSecretsConfig(env: Env = process.env, readFile: (path: string) => string = (path) => readFileSync(path, 'utf8')): SecretsConfig {
  const problems: string[] = [];
  const providerSetting = setting(env, 'PORTCULLIS_KMS_PROVIDER') ?? 'local';
  const provider = providerSetting === 'local' || providerSetting === 'aws-kms' ? providerSetting : undefined;
  if (provider === undefined) problems.push(`PORTCULLIS_KMS_PROVIDER must be 'local' or 'aws-kms', not '${providerSetting}'`);
  const masterKeys = readMasterKeys(env, readFile, problems);
  if (provider === 'local' && masterKeys === undefined && !problems.some((p) => p.includes('PORTCULLIS_MASTER_KEY'))) {
    problems.push('PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE is required when PORTCULLIS_KMS_PROVIDER=local');
  }
  const kms = provider === 'aws-kms' ? readKms(env, problems) : undefined;
  if (problems.length > 0) throw new SecretsConfigError(problems);
  return Object.freeze({ provider: provider!, masterKeys, kms });
}
