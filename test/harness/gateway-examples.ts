import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { parse } from 'yaml';
import { StateSchema, type StateSpec } from '../../authz-service/src/state/schema.js';
import { repoPath } from '../deploy/support/files.js';

export function gatewayConfigPath(relative: string): string {
  return repoPath('gateway-config', relative);
}

/** gateway-config/sample-state.yaml, the state every gateway example is rendered from. */
export function sampleState(): StateSpec {
  return StateSchema.parse(parse(readFileSync(gatewayConfigPath('sample-state.yaml'), 'utf8')));
}

/**
 * Whether a committed example still equals what the renderer produces now. With UPDATE_EXAMPLES=1 the file
 * is (re)written instead, so examples are regenerated, never edited by hand.
 */
export function exampleIsCurrent(relative: string, rendered: string): boolean {
  const file = gatewayConfigPath(relative);
  if (process.env['UPDATE_EXAMPLES'] === '1') writeFileSync(file, rendered);
  return existsSync(file) && readFileSync(file, 'utf8') === rendered;
}
