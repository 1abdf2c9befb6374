/**
 * The effective settings and where each came from: flag > environment > config file > default. Resolved
 * once per invocation into a frozen object; every invalid value is reported at once.
 */
import type { Env } from '../io.js';
import { usageError } from '../exit.js';
import type { ConfigFile, ConfigKey } from './config-file.js';
import { type ConfigPaths, nonEmpty } from './paths.js';

export type SettingSource = 'flag' | 'environment' | 'config file' | 'default' | 'unset';

export interface Setting {
  readonly value: string | undefined;
  readonly source: SettingSource;
  /** The flag, variable or file the value came from. */
  readonly origin?: string;
}

export const DEFAULT_CONTROL_PLANE_URL = 'http://localhost:8080';
export const DEFAULT_CLIENT_ID = 'portcullis-cli';

interface SettingSpec {
  readonly key: ConfigKey;
  readonly flag: string;
  readonly env: string;
  readonly fallback?: string;
  readonly isUrl: boolean;
}

export const SETTING_SPECS: readonly SettingSpec[] = [
  { key: 'url', flag: 'url', env: 'PORTCULLIS_URL', fallback: DEFAULT_CONTROL_PLANE_URL, isUrl: true },
  { key: 'issuer', flag: 'issuer', env: 'PORTCULLIS_OIDC_ISSUER', isUrl: true },
  { key: 'client_id', flag: 'client-id', env: 'PORTCULLIS_OIDC_CLIENT_ID', fallback: DEFAULT_CLIENT_ID, isUrl: false },
];

export interface Settings {
  /** Control-plane base URL. */
  readonly url: Setting;
  readonly issuer: Setting;
  readonly clientId: Setting;
  /** PORTCULLIS_TOKEN: a non-interactive credential that takes the place of the stored login. */
  readonly token: Setting;
  readonly paths: ConfigPaths;
}

export type SettingFlags = Readonly<Partial<Record<'url' | 'issuer' | 'client-id', string>>>;

export function resolveSettings(flags: SettingFlags, env: Env, file: ConfigFile, paths: ConfigPaths): Settings {
  const problems: string[] = [];
  const resolved = {} as Record<ConfigKey, Setting>;
  for (const spec of SETTING_SPECS) {
    const setting = pick(spec, flags, env, file, paths.configFile);
    if (spec.isUrl && setting.value !== undefined) {
      const problem = urlProblem(setting.value);
      if (problem) problems.push(`${setting.origin ?? spec.key}: "${setting.value}" ${problem}`);
    }
    resolved[spec.key] = Object.freeze({ ...setting, ...(spec.isUrl && setting.value ? { value: setting.value.replace(/\/+$/, '') } : {}) });
  }
  if (problems.length > 0) throw usageError(`Invalid settings:\n  ${problems.join('\n  ')}`);
  const token = nonEmpty(env['PORTCULLIS_TOKEN']);
  const tokenSetting: Setting = token === undefined ? { value: undefined, source: 'unset' } : { value: token, source: 'environment', origin: 'PORTCULLIS_TOKEN' };
  return Object.freeze({
    url: resolved.url,
    issuer: resolved.issuer,
    clientId: resolved.client_id,
    token: tokenSetting,
    paths,
  });
}

function pick(spec: SettingSpec, flags: SettingFlags, env: Env, file: ConfigFile, configFile: string): Setting {
  const flag = nonEmpty(flags[spec.flag as keyof SettingFlags]);
  if (flag !== undefined) return { value: flag, source: 'flag', origin: `--${spec.flag}` };
  const fromEnv = nonEmpty(env[spec.env]);
  if (fromEnv !== undefined) return { value: fromEnv, source: 'environment', origin: spec.env };
  const fromFile = nonEmpty(file[spec.key]);
  if (fromFile !== undefined) return { value: fromFile, source: 'config file', origin: configFile };
  if (spec.fallback !== undefined) return { value: spec.fallback, source: 'default' };
  return { value: undefined, source: 'unset' };
}

export function urlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return 'is not a URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'must be an http:// or https:// URL';
  if (url.search !== '' || url.hash !== '') return 'must not have a query or fragment';
  if (url.username !== '' || url.password !== '') return 'must not carry credentials';
  return undefined;
}
