/**
 * 3scale provisioning: which 3scale account a consumer is, which application a mirrored key is, and
 * applications Portcullis created but could neither confirm nor remove (left for reconciliation). Ids are
 * per tenant (the admin host), so every table carries it.
 */
import type { Knex } from 'knex';

const tz = { useTz: true } as const;

export async function up(knex: Knex): Promise<void> {
  await knex.schema.createTable('threescale_accounts', (t) => {
    t.text('tenant').notNullable();
    t.text('consumer_id').notNullable().references('consumers.id').onDelete('CASCADE');
    t.text('account_id').notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.primary(['tenant', 'consumer_id']);
    t.unique(['tenant', 'account_id']);
  });

  // One row per mirrored key: the key's secret is HMAC(user_key) of this application.
  await knex.schema.createTable('threescale_applications', (t) => {
    t.text('key_id').primary().references('api_keys.id').onDelete('CASCADE');
    t.text('tenant').notNullable();
    t.text('service_id').notNullable();
    t.text('account_id').notNullable();
    t.text('application_id').notNullable();
    t.text('plan_id').notNullable();
    /** live | suspended | pending as last seen in 3scale; deleted once the application vanished. */
    t.text('state').notNullable();
    /** 'suspend' while a revocation has not reached 3scale yet. */
    t.text('pending');
    t.timestamp('synced_at', tz).notNullable();
    t.unique(['tenant', 'application_id']);
    t.index(['tenant', 'service_id']);
  });

  await knex.schema.createTable('threescale_orphans', (t) => {
    t.text('tenant').notNullable();
    t.text('application_id').notNullable();
    t.text('account_id').notNullable();
    t.text('reason').notNullable();
    t.timestamp('recorded_at', tz).notNullable();
    t.primary(['tenant', 'application_id']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of ['threescale_orphans', 'threescale_applications', 'threescale_accounts']) await knex.schema.dropTableIfExists(table);
}
