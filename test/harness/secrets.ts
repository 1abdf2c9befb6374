/** Test support for the secret store: a migrated, emptied-per-test `secrets` table, and typed failures. */
import { expect } from 'chai';
import type { Knex } from 'knex';
import { SecretError } from '../../control-plane/src/secrets/errors.js';
import { KnexSecretRepository } from '../../control-plane/src/secrets/knex-repository.js';
import { SECRETS_TABLE, secretsMigration } from '../../control-plane/src/secrets/migration.js';
import type { TestKnex } from './knex.js';

export interface SecretsTable {
  readonly db: Knex;
  readonly repository: KnexSecretRepository;
}

/**
 * Register mocha hooks on the current suite: open a database (once), migrate it, empty the table before every
 * test, close it at the end. Read `db` and `repository` inside hooks and tests only.
 */
export function useSecretsTable(open: () => Promise<TestKnex>): SecretsTable {
  let database: TestKnex | undefined;
  let repository: KnexSecretRepository | undefined;
  before(async () => {
    database = await open();
    await secretsMigration.up(database.db);
    repository = new KnexSecretRepository(database.db);
  });
  after(async () => {
    await database?.close();
  });
  beforeEach(async () => {
    await database!.db(SECRETS_TABLE).delete();
  });
  return {
    get db() {
      return database!.db;
    },
    get repository() {
      return repository!;
    },
  };
}

/** The SecretError a promise rejects with (fails the test if it resolves or rejects with anything else). */
export async function secretFailure(promise: Promise<unknown>): Promise<SecretError> {
  try {
    await promise;
  } catch (error) {
    expect(error).to.be.instanceOf(SecretError);
    return error as SecretError;
  }
  throw new Error('expected a SecretError');
}
