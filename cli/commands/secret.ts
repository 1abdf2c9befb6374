/**
 * Showing a key's secret, the one time the control plane hands it over. The secret alone goes to stdout
 * (so `KEY=$(portcullis init chat)` captures exactly it); the explanation goes to stderr.
 */
import type { CommandContext } from '../command.js';

export interface KeyView {
  readonly id: string;
  readonly consumer_id: string;
  readonly name?: string;
  readonly prefix: string;
  readonly services: readonly string[];
  readonly scopes: readonly string[];
  readonly status: string;
  readonly expires_at?: string;
  readonly last_used_at?: string;
  readonly revoked_at?: string;
  readonly secrets?: readonly { readonly prefix: string; readonly created_at: string; readonly not_after?: string }[];
}

/** A key as create and rotate return it: the only shape carrying the secret. */
export interface KeyWithSecret extends KeyView {
  readonly key: string;
}

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
