/**
 * apply -f FILE: declare plans, services and consumers. Reads the current state of each declared object,
 * prints the diff, then (unless --dry-run) creates and updates in dependency order. Creates carry an
 * Idempotency-Key, so a create retried after a network failure cannot happen twice.
 */
import { type Command, type CommandContext, flag, stringOption } from '../command.js';
import { usageError } from '../exit.js';
import { type Change, diff } from '../apply/diff.js';
import { type Declared, KIND_SPECS, readDeclarations } from '../apply/document.js';
import { normalizeAll } from '../apply/normalize.js';

const apply: Command = {
  name: 'apply',
  summary: 'Admin: create or update plans, services and consumers from a YAML or JSON file (shows the diff first)',
  usage: '-f FILE [--dry-run]',
  options: { file: { type: 'string', short: 'f' }, 'dry-run': { type: 'boolean' } },
  async run(ctx) {
    const file = stringOption(ctx, 'file');
    if (file === undefined) throw usageError('apply needs -f FILE (YAML or JSON; "-" reads stdin).');
    const declared = normalizeAll(await readDeclarations(file, ctx.io.stdin), file === '-' ? 'stdin' : file);
    const changes = await plan(ctx, declared);
    const dryRun = flag(ctx, 'dry-run');
    const pending = changes.filter((c) => c.action !== 'unchanged');
    if (!ctx.out.json) printDiff(ctx, changes);
    if (!dryRun) for (const change of pending) await execute(ctx, change);
    const counts = { create: 0, update: 0, unchanged: 0 };
    for (const c of changes) counts[c.action]++;
    ctx.out.result({ dry_run: dryRun, applied: !dryRun && pending.length > 0, counts, changes: changes.map(describe) }, () => {
      const summary = `${counts.create} to create, ${counts.update} to update, ${counts.unchanged} unchanged`;
      if (pending.length === 0) ctx.out.line(`No changes (${counts.unchanged} unchanged).`);
      else if (dryRun) ctx.out.line(`Dry run: ${summary}; nothing was written.`);
      else ctx.out.line(`Applied: ${counts.create} created, ${counts.update} updated, ${counts.unchanged} unchanged.`);
    });
  },
};

async function plan(ctx: CommandContext, declared: readonly Declared[]): Promise<Change[]> {
  const api = ctx.api();
  const changes: Change[] = [];
  for (const spec of KIND_SPECS) {
    for (const d of declared.filter((x) => x.spec === spec)) {
      const reply = await api.request<Record<string, unknown>>('GET', `${spec.collection}/${encodeURIComponent(d.key)}`, { accept: [404] });
      changes.push(diff(d, reply.status === 404 ? undefined : reply.body));
    }
  }
  return changes;
}

async function execute(ctx: CommandContext, change: Change): Promise<void> {
  const api = ctx.api();
  const { collection } = change.spec;
  const path = `${collection}/${encodeURIComponent(change.key)}`;
  if (change.action === 'create') {
    await api.post(collection, change.body, { idempotent: true });
  } else if (change.action === 'update') {
    if (Object.keys(change.patch).length > 0) await api.request('PATCH', path, { body: change.patch });
    for (const subject of change.addSubjects) await api.post(`${path}/subjects`, subject);
  }
}

function printDiff(ctx: CommandContext, changes: readonly Change[]): void {
  for (const change of changes) {
    const label = `${change.spec.kind} ${change.key}`;
    if (change.action === 'create') ctx.out.line(`+ ${label} (create)`);
    else if (change.action === 'unchanged') ctx.out.line(`= ${label} (unchanged)`);
    else {
      ctx.out.line(`~ ${label} (update)`);
      for (const f of change.fields) ctx.out.line(`    ${f.field}: ${compact(f.from)} -> ${compact(f.to)}`);
    }
  }
}

function describe(change: Change): Record<string, unknown> {
  const base = { kind: change.spec.kind, key: change.key, action: change.action };
  if (change.action === 'create') return { ...base, body: change.body };
  if (change.action === 'update') return { ...base, fields: change.fields };
  return base;
}

function compact(value: unknown): string {
  return value === undefined ? '(unset)' : JSON.stringify(value);
}

export const applyCommands: readonly Command[] = [apply];
