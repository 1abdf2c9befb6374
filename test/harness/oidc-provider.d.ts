/**
 * The slice of `oidc-provider` (v9, untyped ESM) that the test issuer uses. Deliberately narrow: anything
 * not declared here is not relied on.
 */
declare module 'oidc-provider' {
  import type { IncomingMessage, ServerResponse } from 'node:http';

  export interface KoaContext {
    readonly method: string;
    readonly path: string;
    status: number;
    body: unknown;
    readonly oidc?: { readonly params?: Readonly<Record<string, unknown>>; readonly client?: { readonly clientId: string } };
  }

  export interface OidcModel {
    save(): Promise<string>;
    expiration: number;
    scope?: string;
    resourceServer?: unknown;
  }

  export interface GrantModel {
    addOIDCScope(scope: string): void;
    addOIDCClaims(claims: string[]): void;
    addResourceScope(resource: string, scope: string): void;
    save(): Promise<string>;
  }

  export interface InteractionDetails {
    readonly uid: string;
    readonly prompt: { readonly name: string; readonly details: Record<string, unknown> };
    readonly params: Record<string, unknown>;
    readonly session?: { readonly accountId?: string };
    readonly grantId?: string;
  }

  export default class Provider {
    constructor(issuer: string, configuration: Record<string, unknown>);
    callback(): (req: IncomingMessage, res: ServerResponse) => void;
    use(middleware: (ctx: KoaContext, next: () => Promise<void>) => Promise<void>): void;
    registerGrantType(name: string, handler: (ctx: KoaContext & { oidc: { params: Record<string, string | undefined>; client: { clientId: string } } }) => Promise<void>, params?: string[]): void;
    interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<InteractionDetails>;
    interactionFinished(req: IncomingMessage, res: ServerResponse, result: Record<string, unknown>, options?: { mergeWithLastSubmission?: boolean }): Promise<void>;
    readonly Grant: { new (fields: { accountId: string; clientId: string }): GrantModel; find(id: string): Promise<GrantModel | undefined> };
    readonly AccessToken: new (fields: Record<string, unknown>) => OidcModel;
    readonly RefreshToken: new (fields: Record<string, unknown>) => OidcModel;
    readonly ResourceServer: new (identifier: string, data: Record<string, unknown>) => unknown;
  }

  export const errors: {
    readonly InvalidGrant: new (description?: string) => Error;
    readonly InvalidTarget: new (description?: string) => Error;
  };
}
