/**
 * Reading a Helm chart without helm: the Go-template actions in each template, the `.Values` paths they
 * reference, block balance, include/define names, and a "skeleton" of each manifest — the YAML that is left
 * when whole-line actions are dropped and inline ones become a placeholder — to check static structure.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import YAML from 'yaml';
import { isObject, type JsonObject, readText, repoPath } from './files.js';

export const CHART_DIR = repoPath('charts/portcullis');
export const PLACEHOLDER = '__TPL__';

export interface Template {
  readonly name: string;
  readonly text: string;
}

export function chartTemplates(): Template[] {
  const dir = join(CHART_DIR, 'templates');
  return readdirSync(dir)
    .sort()
    .map((name) => ({ name, text: readText(join(dir, name)) }));
}

const ACTION = /\{\{-?([\s\S]*?)-?\}\}/g;
const isComment = (body: string) => /^\s*\/\*[\s\S]*\*\/\s*$/.test(body);

/** Bodies of every `{{ … }}` action that is not a comment. */
export function actions(text: string): string[] {
  return [...text.matchAll(ACTION)].map((m) => m[1]!).filter((b) => !isComment(b));
}

/** Every `.Values.a.b` path referenced (also as `$.Values.a.b`), as arrays of keys. */
export function valuesReferences(text: string): string[][] {
  const paths: string[][] = [];
  for (const body of actions(text)) {
    for (const m of body.matchAll(/\.Values((?:\.[A-Za-z_][A-Za-z0-9_]*)+)/g)) paths.push(m[1]!.slice(1).split('.'));
  }
  return paths;
}

/** Problems with if/range/with/define/block … end nesting; empty when balanced. */
export function blockProblems(text: string): string[] {
  let depth = 0;
  const problems: string[] = [];
  for (const body of actions(text)) {
    const word = /^\s*([a-z]+)\b/.exec(body)?.[1];
    if (word === 'if' || word === 'range' || word === 'with' || word === 'define' || word === 'block') depth++;
    else if (word === 'end') {
      depth--;
      if (depth < 0) problems.push('an "end" closes nothing');
    }
  }
  if (depth > 0) problems.push(`${depth} block(s) never closed`);
  return problems;
}

/**
 * The bodies of the if/with/range blocks open at the first occurrence of `needle`, outermost first; inside
 * an `else` the block reads `else of <its if>`. What a line of a template depends on.
 */
export function conditionsAt(text: string, needle: string): string[] {
  const at = text.indexOf(needle);
  if (at < 0) throw new Error(`"${needle}" is not in the template`);
  const open: string[] = [];
  for (const body of actions(text.slice(0, at))) {
    const trimmed = body.trim();
    const word = /^([a-z]+)\b/.exec(trimmed)?.[1];
    if (word === 'if' || word === 'range' || word === 'with' || word === 'define' || word === 'block') open.push(trimmed);
    else if (word === 'else' && open.length > 0) open.push(`else of ${open.pop()!}`);
    else if (word === 'end') open.pop();
  }
  return open;
}

export const includedNames = (text: string): string[] =>
  actions(text).flatMap((b) => [...b.matchAll(/\b(?:include|template)\s+"([^"]+)"/g)].map((m) => m[1]!));
export const definedNames = (text: string): string[] =>
  [...text.matchAll(/\{\{-?\s*define\s+"([^"]+)"/g)].map((m) => m[1]!);

/** The static YAML of a manifest template, one entry per document that has any content. */
export function skeleton(text: string): JsonObject[] {
  const marked = text.replace(ACTION, '\u0000');
  const lines = marked
    .split('\n')
    .filter((line) => line.replace(/\u0000/g, '').trim() !== '' || !line.includes('\u0000'))
    .map((line) => line.replace(/\u0000/g, PLACEHOLDER));
  const docs = YAML.parseAllDocuments(lines.join('\n'), { uniqueKeys: false });
  const out: JsonObject[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) throw new Error(doc.errors.map((e) => e.message).join('\n'));
    const value: unknown = doc.toJS();
    if (isObject(value)) out.push(value);
  }
  return out;
}

/** Every key path of a values document; a path ends at a scalar, an array or an empty map. */
export function leafPaths(value: unknown, prefix: string[] = []): string[][] {
  if (!isObject(value) || Object.keys(value).length === 0) return [prefix];
  return Object.entries(value).flatMap(([k, v]) => leafPaths(v, [...prefix, k]));
}

/** Top-level keys a `define` emits (lines at column 0 of its body that look like `key:`). */
export function definedKeys(templates: readonly Template[]): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const t of templates) {
    for (const m of t.text.matchAll(/\{\{-?\s*define\s+"([^"]+)"\s*-?\}\}([\s\S]*?)\{\{-?\s*end\s*-?\}\}/g)) {
      keys.set(m[1]!, [...m[2]!.matchAll(/^([A-Za-z0-9./_-]+):/gm)].map((k) => k[1]!));
    }
  }
  return keys;
}

/**
 * Keys that one mapping would receive twice: consecutive lines at one indentation that are either literal
 * `key:` lines or `include "x" … | nindent N` of a helper whose top-level keys are known. A duplicate label
 * key makes the API server's YAML decoder refuse the whole manifest.
 */
export function duplicateMappingKeys(text: string, helperKeys: ReadonlyMap<string, string[]>): string[] {
  const problems: string[] = [];
  let group: { indent: number; keys: string[] } | undefined;
  const flush = () => {
    if (group) {
      const seen = new Set<string>();
      for (const k of group.keys) {
        if (seen.has(k)) problems.push(k);
        seen.add(k);
      }
    }
    group = undefined;
  };
  for (const line of text.split('\n')) {
    const include = /^\s*\{\{-?\s*include\s+"([^"]+)"[^}]*\|\s*nindent\s+(\d+)\s*\}\}\s*$/.exec(line);
    const literal = /^( *)([A-Za-z0-9./_-]+):/.exec(line);
    const indent = include ? Number(include[2]) : literal ? literal[1]!.length : undefined;
    const keys = include ? (helperKeys.get(include[1]!) ?? []) : literal ? [literal[2]!] : undefined;
    if (indent === undefined || keys === undefined) {
      flush();
      continue;
    }
    if (!group || group.indent !== indent) {
      flush();
      group = { indent, keys: [] };
    }
    group.keys.push(...keys);
  }
  flush();
  return problems;
}
