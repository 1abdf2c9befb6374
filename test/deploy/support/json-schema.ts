/**
 * JSON Schema validation with ajv for the vendored draft-07 schemas. The compose specification names its
 * meta-schema as `https://json-schema.org/draft-07/schema` (https, no `#`), which ajv does not know by that
 * spelling; the keywords are plain draft-07, so the declaration is dropped before compiling.
 */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import * as ajvFormats from 'ajv-formats';
import { isObject } from './files.js';

type FormatsPlugin = (ajv: Ajv) => Ajv;
const addFormats: FormatsPlugin =
  (ajvFormats as unknown as { default: FormatsPlugin }).default ?? (ajvFormats as unknown as FormatsPlugin);

const DRAFT_07 = /^https?:\/\/json-schema\.org\/draft-07\/schema#?$/;

export function compileSchema(schema: unknown, options: { strict?: boolean } = {}): ValidateFunction {
  if (!isObject(schema)) throw new TypeError('a JSON Schema must be an object');
  const declared = schema['$schema'];
  if (declared !== undefined && (typeof declared !== 'string' || !DRAFT_07.test(declared))) {
    throw new Error(`unsupported meta-schema ${String(declared)}`);
  }
  const { $schema: _ignored, ...body } = schema;
  // Vendored schemas use annotations ajv does not know (e.g. "deprecated"); our own are held to strict mode,
  // which refuses misspelt keywords that would otherwise silently check nothing.
  const ajv = new Ajv({ allErrors: true, strict: options.strict ?? false, allowUnionTypes: true });
  addFormats(ajv);
  return ajv.compile(body);
}

export function describeErrors(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''} ${JSON.stringify(e.params)}`).join('\n');
}
