/** usage: requests per day, mine, one of my keys', or (admins) a consumer's. */
import type { UsageReport } from '../../control-plane/src/api/usage.js';
import { type Command, flag, requireWith, stringOption } from '../command.js';
import { usageError } from '../exit.js';

const DAY = /^\d{4}-\d{2}-\d{2}$/;

const usage: Command = {
  name: 'usage',
  summary: 'Show request counts per day (default: the last 30 days, all your keys and tokens)',
  usage: '[--key ID] [--from YYYY-MM-DD] [--to YYYY-MM-DD] [--all --consumer ID]',
  options: { key: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' }, all: { type: 'boolean' }, consumer: { type: 'string' } },
  async run(ctx) {
    requireWith(ctx, 'consumer', 'all');
    const from = stringOption(ctx, 'from');
    const to = stringOption(ctx, 'to');
    for (const [name, value] of [['from', from], ['to', to]] as const) {
      if (value !== undefined && !DAY.test(value)) throw usageError(`--${name} must be a day like 2025-01-31, not "${value}".`);
    }
    const key = stringOption(ctx, 'key');
    const consumer = stringOption(ctx, 'consumer');
    if (key !== undefined && consumer !== undefined) throw usageError('Give --key or --consumer, not both.');
    if (flag(ctx, 'all') && key === undefined && consumer === undefined) throw usageError('usage --all needs --consumer ID or --key ID.');
    const path =
      consumer !== undefined
        ? `/v1/consumers/${encodeURIComponent(consumer)}/usage`
        : key !== undefined
          ? `${flag(ctx, 'all') ? '/v1/keys' : '/v1/me/keys'}/${encodeURIComponent(key)}/usage`
          : '/v1/me/usage';
    const report = await ctx.api().get<UsageReport>(path, { query: { from, to } });
    ctx.out.result(report, () => {
      ctx.out.fields([
        ['scope', report.key_id !== undefined ? `key ${report.key_id}` : `consumer ${report.consumer_id}`],
        ['period', `${report.from} .. ${report.to}`],
        ['requests', report.total],
        ['last used', report.last_used_at ?? 'never'],
      ]);
      const active = report.days.filter((d) => d.requests > 0);
      if (active.length > 0) {
        ctx.out.line();
        ctx.out.table(active, [
          { header: 'DAY', value: (d) => d.day },
          { header: 'REQUESTS', value: (d) => d.requests },
        ]);
      }
    });
  },
};

export const usageCommands: readonly Command[] = [usage];
