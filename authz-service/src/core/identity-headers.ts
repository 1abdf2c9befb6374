/**
 * Names of the identity headers an allow hands to the upstream. Configurable because upstreams already
 * expect their own names (X-User-Id, X-Consumer-ID …); the gateway configuration renderers read the same
 * object so the gateway copies exactly these headers and strips client-sent copies of them.
 */
export interface IdentityHeaderNames {
  readonly subject: string;
  readonly consumer: string;
  readonly keyId: string;
  readonly scopes: string;
  readonly plan: string;
  readonly authMethod: string;
  readonly name: string;
  readonly decisionId: string;
}

export const DEFAULT_IDENTITY_HEADERS: IdentityHeaderNames = Object.freeze({
  subject: 'X-Portcullis-Subject',
  consumer: 'X-Portcullis-Consumer',
  keyId: 'X-Portcullis-Key-Id',
  scopes: 'X-Portcullis-Scopes',
  plan: 'X-Portcullis-Plan',
  authMethod: 'X-Portcullis-Auth-Method',
  name: 'X-Portcullis-Name',
  decisionId: 'X-Portcullis-Decision-Id',
});

export function identityHeaderList(names: IdentityHeaderNames): string[] {
  return Object.values(names);
}
