/**
 * Is there a JWT in this request at all? Only `Authorization: Bearer <JWS compact>` is ours; an API key in
 * the same header has no dots and belongs to another resolver.
 */

/** Three base64url segments; the signature may be empty so that `alg: none` tokens are judged, not ignored. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function isJwsCompact(token: string): boolean {
  return JWS_COMPACT.test(token);
}
