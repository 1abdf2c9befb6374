import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parse } from 'yaml';
import { StateSchema, type StateSpec } from '../../authz-service/src/state/schema.js';

const GATEWAY_CONFIG = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'gateway-config');

export function gatewayConfigPath(relative: string): string {
  return path.join(GATEWAY_CONFIG, relative);
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
