/**
 * The current login's tokens, in the user's config directory (0600, written atomically). Bound to the
 * issuer and client that minted them, so a refresh always goes back to the right place even when the
 * configured issuer changed since.
 */
import { z } from 'zod';
import { readJsonFile, removeFile, writePrivateFile } from '../config/private-file.js';

export const StoredTokensSchema = z.object({
  issuer: z.string(),
  client_id: z.string(),
  token_type: z.string(),
  access_token: z.string().min(1),
  /** Opaque to us (Keycloak's are HMAC-signed, never verifiable here). */
  refresh_token: z.string().min(1).optional(),
  id_token: z.string().min(1).optional(),
  scope: z.string().optional(),
  /** Epoch seconds at which the access token stops working. */
  expires_at: z.number().int().optional(),
  /** Epoch seconds of the login or of the last refresh. */
  obtained_at: z.number().int(),
  /** `password` or `device_code`: how the user logged in. */
  grant: z.string(),
});
export type StoredTokens = z.infer<typeof StoredTokensSchema>;

export type LoadResult = { readonly kind: 'none' } | { readonly kind: 'corrupt' } | { readonly kind: 'tokens'; readonly tokens: StoredTokens };

export class TokenStore {
  constructor(readonly file: string) {}

  async load(): Promise<LoadResult> {
    let raw: unknown;
    try {
      raw = await readJsonFile(this.file);
    } catch {
      return { kind: 'corrupt' };
    }
    if (raw === undefined) return { kind: 'none' };
    const parsed = StoredTokensSchema.safeParse(raw);
    return parsed.success ? { kind: 'tokens', tokens: parsed.data } : { kind: 'corrupt' };
  }

  async save(tokens: StoredTokens): Promise<void> {
    await writePrivateFile(this.file, `${JSON.stringify(tokens, null, 2)}\n`);
  }

  /** True when there was a login to forget. */
  clear(): Promise<boolean> {
    return removeFile(this.file);
  }
}
