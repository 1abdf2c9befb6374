import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

/** The repository root: the nearest directory above this file with a package.json. */
function repositoryRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('no package.json above test/harness');
    dir = parent;
  }
  return dir;
}

/**
 * A vendored JSON Schema from the shared folder beside the repository (`../shared/schemas/` from the root,
 * for the main checkout and every worktree alike). Missing is an error, never a skipped test.
 */
export function sharedSchemaPath(file: string): string {
  const full = path.resolve(repositoryRoot(), '..', 'shared', 'schemas', file);
  if (!existsSync(full)) throw new Error(`shared schema ${file} not found at ${full}`);
  return full;
}

/** Compile a shared schema with ajv (all errors, formats) into a validator. */
export function sharedSchemaValidator(file: string): ValidateFunction {
  const schema = JSON.parse(readFileSync(sharedSchemaPath(file), 'utf8')) as object;
  // the vendored schemas use keywords and formats ajv's strict mode would complain about; the data is still checked strictly
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormatsModule.default(ajv);
  return ajv.compile(schema);
}
