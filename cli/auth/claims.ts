/** Reading (not verifying) a JWT's claims, for display and for its expiry. The server does the verifying. */
import { decodeJwt, type JWTPayload } from 'jose';

/** The payload of a JWT, or undefined for anything else (an API key, an opaque token). */
export function jwtClaims(token: string): JWTPayload | undefined {
  if (token.split('.').length !== 3) return undefined;
  try {
    return decodeJwt(token);
  } catch {
    return undefined;
  }
}
