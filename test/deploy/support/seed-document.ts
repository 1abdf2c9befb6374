/**
 * gateway-config/compose/portcullis.yaml is written in the control plane's REST request shapes (what the
 * seed job POSTs). For checking it with the data plane's own schema and compiler, the only difference is
 * that a service's `upstream_url` is one entry of the state's `upstream_urls`.
 */
import type { StateInput } from '../../../authz-service/src/state/schema.js';
import { isObject, type JsonObject, readYaml, repoPath } from './files.js';

export const SEED_FILE = repoPath('gateway-config/compose/portcullis.yaml');

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
