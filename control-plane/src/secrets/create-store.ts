/** Composition: a SecretStore from a parsed SecretsConfig and a repository. */
import type { KMSClient } from '@aws-sdk/client-kms';
import { AwsKmsKeyWrapProvider, createKmsClient } from './aws-kms-provider.js';
import type { SecretsConfig } from './config.js';
import type { KeyWrapProvider } from './key-wrap.js';
import { LocalKeyWrapProvider } from './local-provider.js';
import type { SecretRepository } from './repository.js';
import { EnvelopeSecretStore, type SecretStore } from './store.js';

export interface CreateSecretStoreOptions {
  readonly repository: SecretRepository;
  /** A ready KMS client (tests, custom credentials); otherwise one is built from the config. */
  readonly kmsClient?: KMSClient;
}

export function createSecretStore(config: SecretsConfig, options: CreateSecretStoreOptions): SecretStore {
  const local = config.masterKeys === undefined ? undefined : new LocalKeyWrapProvider(config.masterKeys);
  let current: KeyWrapProvider;
  if (config.kms !== undefined) {
    const client = options.kmsClient ?? createKmsClient({ region: config.kms.region, endpoint: config.kms.endpoint });
    current = new AwsKmsKeyWrapProvider(client, config.kms.keyId);
  } else if (local !== undefined) {
    current = local;
  } else {
    throw new RangeError('the secrets config names no usable provider');
  }
  const previous = local !== undefined && local !== current ? [local] : [];
  return new EnvelopeSecretStore({ repository: options.repository, provider: current, previousProviders: previous });
}
