/**
 * Keys awaiting approval by their system of record (a 3scale application on a plan that requires
 * approval). Such a key is stored revoked, so it opens nothing, and marked as waiting, so its provisioner
 * can activate it once the approval arrives and the API can tell it from a key someone revoked.
 */
import type { Knex } from 'knex';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('api_keys', (t) => t.boolean('awaiting_approval').notNullable().defaultTo(false));
  // waiting is a kind of inactive: a key that waits and works at once would be the fail-open this column prevents
  await knex.raw('ALTER TABLE api_keys ADD CONSTRAINT api_keys_awaiting_is_revoked CHECK (NOT awaiting_approval OR revoked_at IS NOT NULL)');
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE api_keys DROP CONSTRAINT IF EXISTS api_keys_awaiting_is_revoked');
  await knex.schema.alterTable('api_keys', (t) => t.dropColumn('awaiting_approval'));
}
