/** The JWT credential resolver's public surface. */
export { JWT_RESOLVER_DEFAULTS, JwtResolver, type JwtResolverOptions, type JwtResolverSettings } from './resolver.js';
export { AUTO_CONSUMER_PREFIX, autoConsumerId } from './consumer.js';
export { bearerChallenge } from './errors.js';
export type { JwtResolverEvent, JwtResolverStats } from './stats.js';
export type { TokenIdentity } from './claims.js';
