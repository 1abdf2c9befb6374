/** keys list|create|rotate|revoke: your own keys under /v1/me/keys; with --all (admins), every key under /v1/keys. */
import { type Command, type CommandContext, flag, integerOption, listOption, requireWith, stringOption } from '../command.js';
import { KEY_STATUSES } from '../../control-plane/src/api/keys.js';
import { usageError } from '../exit.js';
import type { Column } from '../output.js';
import { type KeyView, type KeyWithSecret, showSecretOnce } from './secret.js';

const MAX_GRACE_SECONDS = 30 * 86_400;
const ALL = { all: { type: 'boolean' } } as const;

function base(ctx: CommandContext): string {
  return flag(ctx, 'all') ? '/v1/keys' : '/v1/me/keys';
}

function keyPath(ctx: CommandContext, action: string): string {
  return `${base(ctx)}/${encodeURIComponent(ctx.args[0]!)}/${action}`;
}

const keyColumns = (all: boolean): Column<KeyView>[] => [
  { header: 'ID', value: (k) => k.id },
  ...(all ? [{ header: 'CONSUMER', value: (k: KeyView) => k.consumer_id }] : []),
  { header: 'NAME', value: (k) => k.name },
  { header: 'PREFIX', value: (k) => k.prefix },
  { header: 'SERVICES', value: (k) => (k.services.length === 0 ? '(all)' : k.services.join(',')) },
  { header: 'STATUS', value: (k) => k.status },
  { header: 'EXPIRES', value: (k) => k.expires_at },
  { header: 'LAST USED', value: (k) => k.last_used_at },
];

const list: Command = {
  name: 'keys list',
  summary: 'List your keys (prefixes and metadata; secrets are never shown again)',
  usage: `[--status ${KEY_STATUSES.join('|')}] [--all [--consumer ID] [--service NAME]]`,
  options: { ...ALL, status: { type: 'string' }, consumer: { type: 'string' }, service: { type: 'string' } },
  async run(ctx) {
    requireWith(ctx, 'consumer', 'all');
    requireWith(ctx, 'service', 'all');
    const status = stringOption(ctx, 'status');
    if (status !== undefined && !(KEY_STATUSES as readonly string[]).includes(status)) throw usageError(`--status must be one of ${KEY_STATUSES.join(', ')}.`);
    const items = await ctx.api().list<KeyView>(base(ctx), { status, consumer_id: stringOption(ctx, 'consumer'), service: stringOption(ctx, 'service') });
    ctx.out.result({ items }, () => ctx.out.table(items, keyColumns(flag(ctx, 'all')), 'No keys.'));
  },
};

const create: Command = {
  name: 'keys create',
  summary: 'Create a key (the secret is shown once)',
  usage: '--service NAME [--service NAME ...] [--name NAME] [--scope SCOPE ...] [--expires-at ISO-8601] [--all --consumer ID]',
  options: {
    ...ALL,
    service: { type: 'string', multiple: true },
    scope: { type: 'string', multiple: true },
    name: { type: 'string' },
    'expires-at': { type: 'string' },
    consumer: { type: 'string' },
  },
  async run(ctx) {
    requireWith(ctx, 'consumer', 'all');
    const services = listOption(ctx, 'service');
    const all = flag(ctx, 'all');
    if (!all && services.length === 0) throw usageError('keys create needs at least one --service NAME.');
    const consumer = stringOption(ctx, 'consumer');
    if (all && consumer === undefined) throw usageError('keys create --all needs --consumer ID (whose key it is).');
    const expiresAt = stringOption(ctx, 'expires-at');
    if (expiresAt !== undefined && Number.isNaN(Date.parse(expiresAt))) throw usageError(`--expires-at must be an ISO-8601 time such as 2030-01-31T00:00:00Z, not "${expiresAt}".`);
    const body = {
      ...(all ? { consumer_id: consumer } : {}),
      services,
      scopes: listOption(ctx, 'scope'),
      ...(stringOption(ctx, 'name') !== undefined ? { name: stringOption(ctx, 'name') } : {}),
      ...(expiresAt !== undefined ? { expires_at: new Date(expiresAt).toISOString() } : {}),
    };
    const key = await ctx.api().post<KeyWithSecret>(base(ctx), body, { idempotent: true });
    showSecretOnce(ctx, key, `Created key ${key.id}${services.length > 0 ? ` for ${services.join(', ')}` : ''}.`);
  },
};

const rotate: Command = {
  name: 'keys rotate',
  summary: 'Give a key a new secret (shown once); the old one keeps working for --grace seconds',
  usage: '<id> [--grace SECONDS] [--all]',
  args: { min: 1, max: 1 },
  options: { ...ALL, grace: { type: 'string' } },
  async run(ctx) {
    const grace = integerOption(ctx, 'grace', 0, MAX_GRACE_SECONDS) ?? 0;
    const key = await ctx.api().post<KeyWithSecret>(keyPath(ctx, 'rotate'), { grace_seconds: grace }, { idempotent: true });
    const until = grace > 0 ? `The previous secret keeps working for ${grace} s.` : 'The previous secret stopped working now.';
    showSecretOnce(ctx, key, `Rotated key ${key.id}. ${until}`);
  },
};

const revoke: Command = {
  name: 'keys revoke',
  summary: 'Revoke a key: every secret of it stops working',
  usage: '<id> [--reason TEXT] [--all]',
  args: { min: 1, max: 1 },
  options: { ...ALL, reason: { type: 'string' } },
  async run(ctx) {
    const reason = stringOption(ctx, 'reason');
    const key = await ctx.api().post<KeyView>(keyPath(ctx, 'revoke'), reason === undefined ? {} : { reason });
    ctx.out.result(key, () => ctx.out.line(`Revoked key ${key.id} (prefix ${key.prefix}).`));
  },
};

export const keyCommands: readonly Command[] = [list, create, rotate, revoke];
