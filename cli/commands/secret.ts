/**
 * Showing a key's secret, the one time the control plane hands it over. The secret alone goes to stdout
 * (so `KEY=$(portcullis init chat)` captures exactly it); the explanation goes to stderr.
 */
import type { KeyWithSecret } from '../../control-plane/src/api/keys.js';
import type { CommandContext } from '../command.js';

/** The API's own response types: what the control plane sends is what the CLI reads. */
export type { KeyResource as KeyView, KeyWithSecret } from '../../control-plane/src/api/keys.js';

export function showSecretOnce(ctx: CommandContext, key: KeyWithSecret, headline: string, document: unknown = key): void {
  ctx.out.result(document, () => {
    ctx.out.note(`${headline}\n\nYour API key (the secret for key ${key.id}, prefix ${key.prefix}):\n`);
    ctx.out.line(key.key);
    ctx.out.note(
      '\nThis is the only time the secret is shown; it will not be shown again and cannot be recovered.\n' +
        'Store it now (a password manager or your secret store). If you lose it, rotate the key for a new one.',
    );
  });
}
