/**
 * DB-less / GitOps mode: the declarative state comes from a YAML or JSON file. The file is validated and
 * compiled whole; any problem rejects it with every error listed and the previous state stays active, so a
 * typo in a reload never takes the data plane down. Reloads happen on SIGHUP (wired by the composition
 * root) and when the file changes.
 *
 * The directory is watched, not the file: editors and Kubernetes ConfigMaps replace files by rename, which
 * a watch on the old inode would miss. Content is hashed so touching the file does not recompile it.
 */
import { createHash } from 'node:crypto';
import { type FSWatcher, watch } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname, extname } from 'node:path';
import { parseDocument } from 'yaml';
import { type CompiledState, compileState } from './compile.js';
import type { StateStore } from './store.js';

export type ParseResult = { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly errors: readonly string[] };

/** Parse state text; `.json` files as JSON, anything else as YAML (which also reads JSON). */
export function parseStateText(text: string, fileName: string): ParseResult {
  if (extname(fileName).toLowerCase() === '.json') {
    try {
      return { ok: true, value: JSON.parse(text) };
    } catch (error) {
      return { ok: false, errors: [`invalid JSON: ${(error as Error).message}`] };
    }
  }
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) return { ok: false, errors: doc.errors.map((e) => `invalid YAML: ${e.message}`) };
  return { ok: true, value: doc.toJS({ maxAliasCount: 100 }) ?? {} };
}

export type FileLoadResult =
  | { readonly ok: true; readonly state: CompiledState; readonly hash: string }
  | { readonly ok: false; readonly errors: readonly string[] };

/** Read, parse and compile one state file. Never throws. */
export async function loadStateFile(path: string): Promise<FileLoadResult> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    return { ok: false, errors: [`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`] };
  }
  const parsed = parseStateText(text, path);
  if (!parsed.ok) return parsed;
  const compiled = compileState(parsed.value);
  if (!compiled.ok) return { ok: false, errors: compiled.errors };
  return { ok: true, state: compiled.state, hash: createHash('sha256').update(text).digest('hex') };
}

export type ReloadOutcome =
  | { readonly kind: 'loaded'; readonly revision: number }
  | { readonly kind: 'unchanged' }
  | { readonly kind: 'rejected'; readonly errors: readonly string[]; readonly keptPrevious: boolean };

export interface FileStateSourceOptions {
  readonly path: string;
  readonly store: StateStore;
  /** Told about every load attempt: metrics and logs. */
  readonly onReload?: (outcome: ReloadOutcome) => void;
  /** Quiet period after a file event before reading (editors write in several steps). */
  readonly debounceMs?: number;
}

export class FileStateSource {
  readonly #options: FileStateSourceOptions;
  #lastHash: string | undefined;
  #watcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Loads never overlap: a request during a load queues exactly one more, shared by every caller meanwhile. */
  #loading: Promise<ReloadOutcome> | undefined;
  #queued: Promise<ReloadOutcome> | undefined;

  constructor(options: FileStateSourceOptions) {
    this.#options = options;
  }

  get path(): string {
    return this.#options.path;
  }

  /** Load now. Resolves with what happened; the store changes only on success with new content. */
  reload(): Promise<ReloadOutcome> {
    if (this.#queued) return this.#queued;
    if (this.#loading) {
      this.#queued = this.#loading.then(() => {
        this.#queued = undefined;
        return this.#run();
      });
      return this.#queued;
    }
    return this.#run();
  }

  #run(): Promise<ReloadOutcome> {
    this.#loading = this.#loadOnce().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #loadOnce(): Promise<ReloadOutcome> {
    const result = await loadStateFile(this.#options.path);
    let outcome: ReloadOutcome;
    if (!result.ok) {
      outcome = { kind: 'rejected', errors: result.errors, keptPrevious: this.#options.store.ready };
    } else if (result.hash === this.#lastHash && this.#options.store.ready) {
      outcome = { kind: 'unchanged' };
    } else {
      this.#lastHash = result.hash;
      this.#options.store.swap(result.state, this.#options.path);
      outcome = { kind: 'loaded', revision: result.state.revision };
    }
    this.#options.onReload?.(outcome);
    return outcome;
  }

  /** Reload whenever the file (or the directory entry pointing at it) changes. */
  watch(): void {
    if (this.#watcher) return;
    const file = basename(this.#options.path);
    this.#watcher = watch(dirname(this.#options.path), { persistent: false }, (_event, name) => {
      // Kubernetes swaps a "..data" symlink; other names in the directory are not ours
      if (name !== null && name !== file && !name.startsWith('..')) return;
      if (this.#timer) clearTimeout(this.#timer);
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        void this.reload();
      }, this.#options.debounceMs ?? 100);
      this.#timer.unref();
    });
    this.#watcher.on('error', () => {
      // the directory went away; SIGHUP still works
      this.#watcher?.close();
      this.#watcher = undefined;
    });
  }

  close(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}
