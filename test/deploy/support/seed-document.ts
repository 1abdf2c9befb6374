/**
 * gateway-config/compose/portcullis.yaml is written in the control plane's REST request shapes (what the
 * seed job POSTs). For checking it with the data plane's own schema and compiler, the only difference is
 * that a service's `upstream_url` is one entry of the state's `upstream_urls`.
 */
import { spawn } from 'node:child_process';
import type { StateInput } from '../../../authz-service/src/state/schema.js';
import { isObject, type JsonObject, readYaml, repoPath } from './files.js';

export const SEED_FILE = repoPath('gateway-config/compose/portcullis.yaml');
export const SEED_SCRIPT = repoPath('gateway-config/compose/seed.mjs');

export interface SeedDocument {
  readonly plans: JsonObject[];
  readonly issuers: JsonObject[];
  readonly services: JsonObject[];
}

export function loadSeed(): SeedDocument {
  const doc = readYaml(SEED_FILE);
  if (!isObject(doc)) throw new Error('seed file is not a mapping');
  const list = (key: string) => (Array.isArray(doc[key]) ? (doc[key] as JsonObject[]) : []);
  return { plans: list('plans'), issuers: list('issuers'), services: list('services') };
}

export function seedAsState(seed: SeedDocument): StateInput {
  return {
    plans: seed.plans,
    issuers: seed.issuers,
    services: seed.services.map(({ upstream_url, ...rest }) => ({ ...rest, upstream_urls: [upstream_url] })),
  } as StateInput;
}

/** Runs the seed script as the compose job does, with only `env` (and PATH) in its environment. */
export function runSeed(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, [SEED_SCRIPT, ...args], { env: { PATH: process.env['PATH'] ?? '', ...env } });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}
