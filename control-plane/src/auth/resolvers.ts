/** The credential resolvers that authenticate control-plane callers: the data plane's own, fed from the database. */
import type { KeyHasher } from '../../../authz-service/src/credentials/api-key/format.js';
import { ApiKeyResolver } from '../../../authz-service/src/credentials/api-key/resolver.js';
import type { CredentialResolver } from '../../../authz-service/src/credentials/resolver.js';
import type { Db } from '../store/rows.js';
import { databaseKeyLookups } from './key-lookup.js';

export function controlPlaneResolvers(db: Db, hasher: KeyHasher): CredentialResolver[] {
  const lookups = databaseKeyLookups(db);
  return [new ApiKeyResolver({ hasher, lookupKey: (hash) => lookups.lookupKey(hash), lookupConsumer: (id) => lookups.lookupConsumer(id) })];
}
