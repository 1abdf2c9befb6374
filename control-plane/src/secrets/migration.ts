/**
 * The `secrets` table, as a knex migration object for the control plane's migration list to include.
 * Lengths of IV and tag are checked by the database too, so a malformed row cannot be stored.
 */
import type { Knex } from 'knex';

export const SECRETS_TABLE = 'secrets';
export const SECRETS_MIGRATION_NAME = '20250601000000_secrets';

export const secretsMigration: Knex.Migration = {
  async up(knex: Knex): Promise<void> {
    await knex.schema.createTable(SECRETS_TABLE, (t) => {
      t.text('name').primary();
      t.text('purpose').notNullable();
      t.text('provider').notNullable();
      t.text('key_id').notNullable();
      t.binary('wrapped_key').notNullable();
      t.binary('iv').notNullable();
      t.binary('tag').notNullable();
      t.binary('ciphertext').notNullable();
      t.integer('version').notNullable().defaultTo(1);
      t.timestamp('created_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      t.timestamp('updated_at', { useTz: true }).notNullable().defaultTo(knex.fn.now());
      t.check(`provider in ('local', 'aws-kms')`, [], 'secrets_provider_known');
      t.check('octet_length(iv) = 12 and octet_length(tag) = 16', [], 'secrets_gcm_shape');
      t.check('version >= 1', [], 'secrets_version_positive');
    });
  },
  async down(knex: Knex): Promise<void> {
    await knex.schema.dropTableIfExists(SECRETS_TABLE);
  },
};
