/**
 * The process entry points the deployment files start, and where each comes from. Compiled entry points
 * (`dist/...js`) are mapped back through the real tsconfig (rootDir → outDir) to the TypeScript source that
 * `npm run build` turns into them; plain scripts are files the image copies as they are.
 */
import { relative, resolve } from 'node:path';
import ts from 'typescript';
import { exists, REPO_ROOT, repoPath } from './files.js';

/** Every compiled program a container may run; anything else a deployment file names is a typo. */
export const COMPILED_ENTRY_POINTS = [
  'dist/control-plane/src/main.js',
  'dist/authz-service/src/main.js',
  'dist/control-plane/src/migrate.js',
] as const;

/** Scripts that run without compilation (no dependencies beyond the production node_modules). */
export const SCRIPT_ENTRY_POINTS = ['gateway-config/sample-upstream/server.mjs', 'gateway-config/compose/seed.mjs'] as const;

interface BuildLayout {
  readonly rootDir: string;
  readonly outDir: string;
  readonly fileNames: ReadonlySet<string>;
  includes(sourceRelative: string): boolean;
}

export function buildLayout(): BuildLayout {
  const configPath = repoPath('tsconfig.json');
  const read = ts.readConfigFile(configPath, ts.sys.readFile);
  if (read.error) throw new Error(ts.flattenDiagnosticMessageText(read.error.messageText, '\n'));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, REPO_ROOT, undefined, configPath);
  const rootDir = parsed.options.rootDir ?? REPO_ROOT;
  const outDir = parsed.options.outDir;
  if (!outDir) throw new Error('tsconfig.json has no outDir');
  const includeDirs = (read.config.include as string[]).map((p) => resolve(REPO_ROOT, p));
  return {
    rootDir,
    outDir,
    fileNames: new Set(parsed.fileNames.map((f) => resolve(f))),
    // A file that does not exist yet is not in fileNames; the include patterns say whether it would be.
    includes: (sourceRelative) => includeDirs.some((dir) => !relative(dir, repoPath(sourceRelative)).startsWith('..')),
  };
}

/** `dist/control-plane/src/main.js` → `control-plane/src/main.ts` under the build layout. */
export function sourceOf(distRelative: string, layout: BuildLayout = buildLayout()): string {
  const fromOut = relative(layout.outDir, repoPath(distRelative));
  if (fromOut.startsWith('..')) throw new Error(`${distRelative} is outside outDir ${layout.outDir}`);
  return relative(REPO_ROOT, resolve(layout.rootDir, fromOut.replace(/\.js$/, '.ts')));
}

/** `node <file> …` → `<file>`; undefined when the command does not start node on a file. */
export function nodeEntryPoint(command: readonly string[]): string | undefined {
  if (command[0] !== 'node') return undefined;
  return command.slice(1).find((arg) => !arg.startsWith('-'));
}

export const sourceExists = (sourceRelative: string): boolean => exists(repoPath(sourceRelative));
