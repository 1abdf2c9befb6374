/**
 * The OAuth/OIDC wire protocol the CLI speaks to Keycloak (or any OpenID provider): discovery, device
 * authorization (RFC 8628), the token endpoint (device code, password, refresh) and revocation (RFC 7009),
 * as a public client. Token-endpoint errors come back as values; only transport failures and replies that
 * break the protocol throw.
 */
import { z } from 'zod';
import { authError, CliError, ExitCode } from '../exit.js';
import { type Peer, readJson, send } from '../net/http.js';

const httpUrl = z.url({ protocol: /^https?$/ });

export const ProviderMetadataSchema = z.object({
  issuer: z.string().min(1),
  token_endpoint: httpUrl,
  device_authorization_endpoint: httpUrl.optional(),
  revocation_endpoint: httpUrl.optional(),
});
export type ProviderMetadata = z.infer<typeof ProviderMetadataSchema>;

export const DeviceAuthorizationSchema = z.object({
  device_code: z.string().min(1),
  user_code: z.string().min(1),
  verification_uri: httpUrl,
  verification_uri_complete: httpUrl.optional(),
  expires_in: z.number().positive(),
  /** Seconds between polls; RFC 8628 §3.2: 5 when absent. */
  interval: z.number().positive().optional(),
});
export type DeviceAuthorization = z.infer<typeof DeviceAuthorizationSchema>;

export const TokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().min(1),
  expires_in: z.number().optional(),
  refresh_token: z.string().min(1).optional(),
  id_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

const OAuthErrorSchema = z.object({ error: z.string().min(1), error_description: z.string().optional() });

export type TokenOutcome =
  | { readonly ok: true; readonly tokens: TokenResponse }
  | { readonly ok: false; readonly error: string; readonly description?: string };

export const DEVICE_CODE_GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:device_code';

export class OidcClient {
  readonly #peer: Peer = { name: 'the identity provider' };
  #metadata: Promise<ProviderMetadata> | undefined;

  constructor(
    readonly issuer: string,
    readonly clientId: string,
  ) {}

  /** The discovery document, fetched once; its `issuer` must be exactly the configured one (OIDC Discovery §4.3). */
  metadata(): Promise<ProviderMetadata> {
    this.#metadata ??= this.#discover();
    return this.#metadata;
  }

  async deviceAuthorization(scope: string): Promise<DeviceAuthorization> {
    const { device_authorization_endpoint: endpoint } = await this.metadata();
    if (endpoint === undefined) {
      throw authError(`The identity provider at ${this.issuer} does not offer the device login (no device_authorization_endpoint); use \`portcullis login --password\`.`);
    }
    const response = await this.#post(endpoint, { client_id: this.clientId, scope });
    const body = await readJson(this.#peer, endpoint, response);
    if (response.ok) return this.#shape(DeviceAuthorizationSchema, body, 'device authorization');
    const error = OAuthErrorSchema.safeParse(body);
    const why = error.success ? `${error.data.error}${error.data.error_description ? `: ${error.data.error_description}` : ''}` : `HTTP ${response.status}`;
    throw authError(
      `The identity provider refused to start a device login for client "${this.clientId}" (${why}). ` +
        'The client needs the OAuth 2.0 Device Authorization Grant enabled.',
    );
  }

  /** One token-endpoint call; OAuth errors (400/401 with `error`) are values. */
  async token(params: Readonly<Record<string, string>>): Promise<TokenOutcome> {
    const { token_endpoint: endpoint } = await this.metadata();
    const response = await this.#post(endpoint, { ...params, client_id: this.clientId });
    const body = await readJson(this.#peer, endpoint, response);
    if (response.ok) return { ok: true, tokens: this.#shape(TokenResponseSchema, body, 'token') };
    const error = OAuthErrorSchema.safeParse(body);
    if (error.success && response.status < 500) {
      return { ok: false, error: error.data.error, ...(error.data.error_description ? { description: error.data.error_description } : {}) };
    }
    throw new CliError(ExitCode.Server, `The identity provider's token endpoint failed (HTTP ${response.status}); try again later.`);
  }

  /** RFC 7009. Undefined when the provider advertises no revocation endpoint; otherwise whether it accepted. */
  async revoke(token: string, hint: 'refresh_token' | 'access_token'): Promise<boolean | undefined> {
    const { revocation_endpoint: endpoint } = await this.metadata();
    if (endpoint === undefined) return undefined;
    const response = await this.#post(endpoint, { token, token_type_hint: hint, client_id: this.clientId });
    await response.arrayBuffer().catch(() => undefined);
    return response.ok;
  }

  async #discover(): Promise<ProviderMetadata> {
    const url = `${this.issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
    const response = await send(this.#peer, url, { headers: { accept: 'application/json' } });
    const body = await readJson(this.#peer, url, response);
    if (!response.ok) {
      throw new CliError(
        response.status === 404 ? ExitCode.NotFound : ExitCode.Server,
        `The identity provider has no OpenID configuration at ${url} (HTTP ${response.status}); check the issuer URL.`,
      );
    }
    const metadata = this.#shape(ProviderMetadataSchema, body, 'discovery');
    if (metadata.issuer.replace(/\/+$/, '') !== this.issuer.replace(/\/+$/, '')) {
      throw authError(`The identity provider at ${url} calls itself "${metadata.issuer}", not "${this.issuer}"; set the issuer to exactly what it announces.`);
    }
    return metadata;
  }

  #post(endpoint: string, form: Readonly<Record<string, string>>): Promise<Response> {
    return send(this.#peer, endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams(form).toString(),
    });
  }

  #shape<T>(schema: z.ZodType<T>, body: unknown, what: string): T {
    const parsed = schema.safeParse(body);
    if (parsed.success) return parsed.data;
    const fields = parsed.error.issues.map((i) => i.path.join('.') || '(body)').join(', ');
    throw new CliError(ExitCode.Server, `The identity provider's ${what} response is not what the protocol requires (problem with: ${fields}).`);
  }
}
