/**
 * Names on the wire between the HTTP adapter and the gateways in front of it, shared by the adapter and the
 * gateway configuration renderers so the two cannot drift apart.
 */

/** Traefik's forwardAuth `address` and nginx's auth_request location point here. */
export const FORWARD_AUTH_PATH = '/forward-auth';

/**
 * On a deny, the catalog code in a header as well as in the problem+json body: nginx discards an auth
 * response's body, so its error_page handler rebuilds the problem document from this header.
 */
export const ERROR_CODE_HEADER = 'X-Portcullis-Error';

/** Rate-limit response headers a deny (429) or allow may carry, which gateways copy to the client. */
export const RATE_LIMIT_HEADERS = ['Retry-After', 'RateLimit', 'RateLimit-Policy', 'X-RateLimit-Limit', 'X-RateLimit-Remaining', 'X-RateLimit-Reset'] as const;
