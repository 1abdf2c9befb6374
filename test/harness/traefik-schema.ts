/**
 * SchemaStore's Traefik v3 dynamic-configuration schema (vendored beside the repository), compiled once:
 * what every Traefik document the renderer or the control plane produces is held to.
 */
import path from 'node:path';
import { expect } from 'chai';
import { readJson, SHARED_SCHEMAS } from '../deploy/support/files.js';
import { compileSchema, describeErrors } from '../deploy/support/json-schema.js';

export const validateTraefikDynamic = compileSchema(readJson(path.join(SHARED_SCHEMAS, 'traefik-v3-dynamic.schema.json')));

/** Asserts that `document`, read through JSON as Traefik's HTTP provider receives it, validates. */
export function expectValidTraefikDynamic(document: unknown): void {
  const wire = JSON.parse(JSON.stringify(document)) as unknown;
  expect(validateTraefikDynamic(wire), describeErrors(validateTraefikDynamic.errors)).to.equal(true);
}
