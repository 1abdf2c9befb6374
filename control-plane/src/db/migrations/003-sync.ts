/**
 * State sync: the change log's wake-up and retention, and denied counts in usage.
 *
 * - Every insert into `state_changes` NOTIFYs `portcullis_state_changes` (delivered at commit), so each
 *   control-plane replica's sync server wakes at once, whichever replica wrote the change.
 * - `state_change_horizon` remembers up to which revision the change log has been pruned: a replica behind
 *   that revision gets a snapshot instead of deltas.
 */
import type { Knex } from 'knex';

export const STATE_CHANGES_CHANNEL = 'portcullis_state_changes';

export async function up(knex: Knex): Promise<void> {
  await knex.schema.alterTable('state_changes', (t) => t.index(['at'], 'state_changes_at'));
  await knex.schema.createTable('state_change_horizon', (t) => {
    t.smallint('id').primary();
    t.bigInteger('pruned_through').notNullable();
  });
  await knex.raw('ALTER TABLE state_change_horizon ADD CONSTRAINT state_change_horizon_single_row CHECK (id = 1)');
  await knex('state_change_horizon').insert({ id: 1, pruned_through: 0 });
  await knex.raw(`
    CREATE FUNCTION portcullis_state_changes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('${STATE_CHANGES_CHANNEL}', '');
      RETURN NULL;
    END;
    $$`);
  await knex.raw(`
    CREATE TRIGGER state_changes_notify AFTER INSERT ON state_changes
    FOR EACH STATEMENT EXECUTE FUNCTION portcullis_state_changes_notify()`);
  for (const table of ['usage_key_daily', 'usage_consumer_daily']) {
    await knex.schema.alterTable(table, (t) => t.bigInteger('denied').notNullable().defaultTo(0));
  }
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['usage_key_daily', 'usage_consumer_daily']) {
    await knex.schema.alterTable(table, (t) => t.dropColumn('denied'));
  }
  await knex.raw('DROP TRIGGER IF EXISTS state_changes_notify ON state_changes');
  await knex.raw('DROP FUNCTION IF EXISTS portcullis_state_changes_notify()');
  await knex.schema.dropTableIfExists('state_change_horizon');
  await knex.schema.alterTable('state_changes', (t) => t.dropIndex(['at'], 'state_changes_at'));
}
