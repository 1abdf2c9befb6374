/**
 * Is there a JWT in this request at all? Only `Authorization: Bearer <JWS compact>` is ours; an API key in
 * the same header has no dots and belongs to another resolver.
 */
import type { NormalizedRequest } from '../../core/request.js';
import { bearerToken } from '../resolver.js';

/** Three base64url segments; the signature may be empty so that `alg: none` tokens are judged, not ignored. */
const JWS_COMPACT = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

export function bearerJws(request: NormalizedRequest): string | undefined {
  const token = bearerToken(request.headers['authorization']);
  return token !== undefined && JWS_COMPACT.test(token) ? token : undefined;
}
