/** services (what I may use, and whether I hold a key) and init (get or create my key for one). */
import type { MyService } from '../../control-plane/src/services/self-service.js';
import type { Command } from '../command.js';
import { type KeyView, type KeyWithSecret, showSecretOnce } from './secret.js';

const services: Command = {
  name: 'services',
  summary: 'List the services you may use, each with whether you hold a key for it',
  usage: '',
  async run(ctx) {
    const items = await ctx.api().list<MyService>('/v1/me/services');
    ctx.out.result({ items }, () =>
      ctx.out.table(
        items,
        [
          { header: 'SERVICE', value: (s) => s.name },
          { header: 'KEY', value: (s) => (s.has_key ? `yes (${s.key?.prefix ?? 'active'})` : s.api_keys ? 'no' : 'n/a (tokens only)') },
          { header: 'CREDENTIALS', value: (s) => s.credentials.join(',') },
          { header: 'DESCRIPTION', value: (s) => s.display_name ?? s.description },
        ],
        'No services are available to you.',
      ),
    );
  },
};

type ServiceKeyReply = { readonly created: true; readonly key: KeyWithSecret } | { readonly created: false; readonly key: KeyView };

const init: Command = {
  name: 'init',
  summary: 'Get your API key for a service, creating it if you hold none (the secret is shown once)',
  usage: '<service>',
  args: { min: 1, max: 1 },
  async run(ctx) {
    const service = ctx.args[0]!;
    const reply = await ctx.api().request<ServiceKeyReply>('POST', `/v1/me/services/${encodeURIComponent(service)}/key`, { body: {} });
    const result = reply.body;
    if (result.created) {
      showSecretOnce(ctx, result.key, `Created an API key for ${service}.`, result);
      return;
    }
    ctx.out.result(result, () =>
      ctx.out.note(
        `You already hold key ${result.key.id} (prefix ${result.key.prefix}) for ${service}. Its secret was shown when it was created and cannot be shown again;\n` +
          `run \`portcullis keys rotate ${result.key.id}\` for a new secret.`,
      ),
    );
  },
};

export const serviceCommands: readonly Command[] = [services, init];
