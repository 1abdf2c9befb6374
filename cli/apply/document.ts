/**
 * The file `portcullis apply -f` reads: YAML or JSON with `plans`, `services` and `consumers`, each object
 * in the REST API's own field names. Plans and services are identified by `name`, consumers by `id`.
 * Every problem in the file is reported at once, before anything is sent.
 */
import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { usageError } from '../exit.js';

export const KINDS = ['plan', 'service', 'consumer'] as const;
export type Kind = (typeof KINDS)[number];

export interface KindSpec {
  readonly kind: Kind;
  /** Top-level key in the file. */
  readonly section: string;
  readonly collection: string;
  /** The field that names an object for good. */
  readonly identity: 'name' | 'id';
}

/** Creation order: services refer to plans, consumers to plans. */
export const KIND_SPECS: readonly KindSpec[] = [
  { kind: 'plan', section: 'plans', collection: '/v1/plans', identity: 'name' },
  { kind: 'service', section: 'services', collection: '/v1/services', identity: 'name' },
  { kind: 'consumer', section: 'consumers', collection: '/v1/consumers', identity: 'id' },
];

export interface Declared {
  readonly spec: KindSpec;
  readonly key: string;
  /** Position in its section, for messages. */
  readonly index: number;
  /** The object as written (checked and normalised by the kind's rules later). */
  readonly body: Readonly<Record<string, unknown>>;
}

export async function readDeclarations(file: string, stdin: NodeJS.ReadableStream): Promise<Declared[]> {
  let text: string;
  try {
    text = file === '-' ? await readAll(stdin) : await readFile(file, 'utf8');
  } catch (error) {
    throw usageError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? 'read failed'}.`);
  }
  return parseDeclarations(text, file === '-' ? 'stdin' : file);
}

export function parseDeclarations(text: string, source: string): Declared[] {
  // YAML 1.2 is a superset of JSON, so one parser reads both
  const document = parseDocument(text, { prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    throw usageError(`${source} is not valid YAML or JSON:\n  ${document.errors.map((e) => e.message.split('\n')[0]).join('\n  ')}`);
  }
  const root: unknown = document.toJS();
  const problems: string[] = [];
  if (!isRecord(root)) throw usageError(`${source}: expected a mapping with plans, services and/or consumers.`);
  const sections = new Set(KIND_SPECS.map((s) => s.section));
  for (const key of Object.keys(root)) if (!sections.has(key)) problems.push(`${key}: unknown section (expected ${[...sections].join(', ')})`);

  const declared: Declared[] = [];
  for (const spec of KIND_SPECS) {
    const items = root[spec.section];
    if (items === undefined || items === null) continue;
    if (!Array.isArray(items)) {
      problems.push(`${spec.section}: must be a list`);
      continue;
    }
    const seen = new Set<string>();
    items.forEach((item: unknown, index) => {
      const where = `${spec.section}[${index}]`;
      if (!isRecord(item)) return problems.push(`${where}: must be a mapping`);
      const key = item[spec.identity];
      if (typeof key !== 'string' || key === '') return problems.push(`${where}.${spec.identity}: required (it identifies the ${spec.kind})`);
      if (seen.has(key)) return problems.push(`${where}: ${spec.kind} "${key}" is declared twice`);
      seen.add(key);
      declared.push({ spec, key, index, body: item });
      return undefined;
    });
  }
  if (problems.length > 0) throw usageError(`${source} has problems:\n  ${problems.join('\n  ')}`);
  if (declared.length === 0) throw usageError(`${source} declares no plans, services or consumers.`);
  return declared;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readAll(stream: NodeJS.ReadableStream): Promise<string> {
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text;
}
