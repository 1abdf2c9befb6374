/**
 * Reading the repository's deployment files from tests: paths resolve from the repository root (not the
 * working directory), YAML goes through the `yaml` package with merge keys on, as Compose reads them.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** Shared reference material beside the worktree (schemas, notes). */
export const SHARED_SCHEMAS = resolve(REPO_ROOT, '../shared/schemas');

export const repoPath = (...parts: string[]): string => join(REPO_ROOT, ...parts);
export const readText = (path: string): string => readFileSync(path, 'utf8');
export const readJson = (path: string): unknown => JSON.parse(readText(path));
export const exists = (path: string): boolean => existsSync(path);

export function parseYaml(text: string): unknown {
  return YAML.parse(text, { merge: true, uniqueKeys: true });
}
export const readYaml = (path: string): unknown => parseYaml(readText(path));

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Walks a dotted path through nested objects; undefined when any step is missing. */
export function at(value: unknown, path: readonly string[]): unknown {
  let current: unknown = value;
  for (const step of path) {
    if (!isObject(current) || !(step in current)) return undefined;
    current = current[step];
  }
  return current;
}
