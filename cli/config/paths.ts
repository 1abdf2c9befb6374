/** Where the CLI keeps its files: `$PORTCULLIS_CONFIG_DIR`, else `$XDG_CONFIG_HOME/portcullis`, else `~/.config/portcullis`. */
import os from 'node:os';
import path from 'node:path';
import type { Env } from '../io.js';

export interface ConfigPaths {
  readonly dir: string;
  /** Endpoints and OIDC client settings (no secrets). */
  readonly configFile: string;
  /** Access and refresh tokens of the current login. */
  readonly tokenFile: string;
}

export function configPaths(env: Env): ConfigPaths {
  const explicit = nonEmpty(env['PORTCULLIS_CONFIG_DIR']);
  const xdg = nonEmpty(env['XDG_CONFIG_HOME']);
  const dir = path.resolve(explicit ?? path.join(xdg ?? path.join(nonEmpty(env['HOME']) ?? os.homedir(), '.config'), 'portcullis'));
  return { dir, configFile: path.join(dir, 'config.json'), tokenFile: path.join(dir, 'tokens.json') };
}

/** Unset and empty mean the same: `FOO= portcullis …` turns a setting off. */
export function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}
