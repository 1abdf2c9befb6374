/** The secret store's public surface, for the control plane's composition root and its callers. */
export { AwsKmsKeyWrapProvider, createKmsClient, kmsFailure, type KmsClientOptions } from './aws-kms-provider.js';
export { parseSecretsConfig, SecretsConfigError, type KmsConfig, type SecretsConfig } from './config.js';
export { CONTEXT_PURPOSE_KEY, CONTEXT_SECRET_KEY, encryptionContext, type EncryptionContext } from './context.js';
export { createSecretStore, type CreateSecretStoreOptions } from './create-store.js';
export { isSecretError, SECRET_ERROR_CODES, SecretError, type SecretErrorReason } from './errors.js';
export type { DataKey, KeyWrapProvider, KeyWrapProviderName, WrappedKey } from './key-wrap.js';
export { KnexSecretRepository } from './knex-repository.js';
export { LocalKeyWrapProvider } from './local-provider.js';
export { derivedKeyId, MasterKeyRing, parseMasterKeys } from './master-keys.js';
export { SECRETS_MIGRATION_NAME, SECRETS_TABLE, secretsMigration } from './migration.js';
export { loadPepper, PEPPER_BYTES, PEPPER_PURPOSE, PEPPER_SECRET_NAME } from './pepper.js';
export type { Rewrapping, SealedSecret, SecretMetadata, SecretRepository, SecretRow } from './repository.js';
export type { RewrapFailure, RewrapOptions, RewrapReport } from './rewrap.js';
export { REDACTED, Redacted, SecretValue } from './secret-value.js';
export { DEFAULT_MAX_SECRET_BYTES, EnvelopeSecretStore, type SecretStore, type SecretStoreOptions } from './store.js';
