/**
 * The credential resolvers that authenticate control-plane callers: the data plane's own API-key and JWT
 * resolvers. API keys are looked up in the database (a new or revoked key counts at once); JWTs are verified
 * against the trusted issuers in the auth state, with the same claim mapping and consumer linking.
 */
import type { Logger } from 'pino';
import type { KeyHasher } from '../../../authz-service/src/credentials/api-key/format.js';
import { ApiKeyResolver } from '../../../authz-service/src/credentials/api-key/resolver.js';
import { JwtResolver } from '../../../authz-service/src/credentials/jwt/index.js';
import type { CredentialResolver } from '../../../authz-service/src/credentials/resolver.js';
import type { Db } from '../store/rows.js';
import { databaseKeyLookups } from './key-lookup.js';

export function controlPlaneResolvers(db: Db, hasher: KeyHasher, logger: Logger): CredentialResolver[] {
  const lookups = databaseKeyLookups(db);
  return [
    new ApiKeyResolver({ hasher, lookupKey: (hash) => lookups.lookupKey(hash), lookupConsumer: (id) => lookups.lookupConsumer(id) }),
    new JwtResolver({
      onEvent: (event) => {
        if (!event.ok) logger.warn({ issuer: event.issuer, fetch: event.type, reason: event.reason }, 'fetching issuer keys failed');
      },
    }),
  ];
}
