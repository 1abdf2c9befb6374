/**
 * Where the API-key pepper comes from, behind one small interface: callers only ever see `load()`.
 *
 * - PORTCULLIS_KEY_PEPPER, when set, wins.
 * - With a secret store configured (PORTCULLIS_MASTER_KEY or PORTCULLIS_KMS_PROVIDER), the pepper is created
 *   once and kept envelope-encrypted in the database under a key that is not in the database.
 * - Otherwise, in embedded mode, it is generated once into the data directory (mode 0600).
 * - Postgres with neither is refused at configuration time: every replica must share one pepper.
 *
 * The plaintext pepper is never stored in the database: a database leak alone must not be enough to test
 * guessed keys.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Knex } from 'knex';
import type { Secret } from '../../authz-service/src/core/secret.js';
import { MIN_PEPPER_BYTES, type ControlPlaneConfig } from './config.js';
import { readOrCreateSecretFile } from './data-dir-secret.js';
import { createSecretStore } from './secrets/create-store.js';
import { KnexSecretRepository } from './secrets/knex-repository.js';
import { loadPepper } from './secrets/pepper.js';
import type { SecretStore } from './secrets/store.js';

export interface PepperSource {
  /** For startup logs: where the pepper came from, never the pepper. */
  readonly description: string;
  load(): Promise<Buffer>;
}

export const PEPPER_FILE_NAME = 'key-pepper';

export class EnvironmentPepper implements PepperSource {
  readonly description = 'environment (PORTCULLIS_KEY_PEPPER)';
  constructor(private readonly value: Secret) {}

  async load(): Promise<Buffer> {
    return Buffer.from(this.value.reveal(), 'utf8');
  }
}

export class SecretStorePepper implements PepperSource {
  constructor(
    private readonly store: SecretStore,
    readonly description: string,
  ) {}

  async load(): Promise<Buffer> {
    // the environment was considered already; the store creates the pepper on first use
    return loadPepper(this.store, {});
  }
}

/**
 * A pepper generated on first start and kept in the data directory (mode 0600), for the embedded
 * single-machine setup. Stored as base64url text so operators can copy it into PORTCULLIS_KEY_PEPPER
 * when they move to Postgres; the text itself (not the decoded bytes) is the pepper, exactly as if it
 * had come from the environment.
 */
export class DataDirPepper implements PepperSource {
  readonly file: string;
  constructor(dataDir: string) {
    this.file = path.join(dataDir, PEPPER_FILE_NAME);
  }

  get description(): string {
    return `file ${this.file}`;
  }

  async load(): Promise<Buffer> {
    const text = await readOrCreateSecretFile(this.file, () => randomBytes(48).toString('base64url'));
    if (Buffer.byteLength(text, 'utf8') < MIN_PEPPER_BYTES) throw new Error(`${this.file} holds fewer than ${MIN_PEPPER_BYTES} bytes`);
    return Buffer.from(text, 'utf8');
  }
}

/** The configured source. Needs the migrated database when the pepper lives in the secret store. */
export function pepperSourceFor(config: Pick<ControlPlaneConfig, 'keyPepper' | 'dataDir' | 'secrets'>, db: Knex): PepperSource {
  if (config.keyPepper) return new EnvironmentPepper(config.keyPepper);
  if (config.secrets) {
    const store = createSecretStore(config.secrets, { repository: new KnexSecretRepository(db) });
    return new SecretStorePepper(store, `secret store (${config.secrets.provider})`);
  }
  return new DataDirPepper(config.dataDir);
}
