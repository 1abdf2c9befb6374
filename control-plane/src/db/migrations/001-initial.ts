/**
 * The first schema. Runs unchanged on Postgres and on PGlite (which is Postgres), so there is one set of
 * migrations for both. Names of things the data plane sees (services, plans) are slugs; everything else
 * refers to rows by id so a rename never breaks a reference.
 */
import type { Knex } from 'knex';

const tz = { useTz: true } as const;

export async function up(knex: Knex): Promise<void> {
  // One row whose UPDATE serialises every state change and numbers it; state_changes is the outbox the
  // sync stream reads in revision order.
  await knex.schema.createTable('state_revision', (t) => {
    t.smallint('id').primary();
    t.bigInteger('revision').notNullable();
  });
  await knex.raw('ALTER TABLE state_revision ADD CONSTRAINT state_revision_single_row CHECK (id = 1)');
  await knex('state_revision').insert({ id: 1, revision: 0 });

  await knex.schema.createTable('state_changes', (t) => {
    t.bigInteger('revision').notNullable();
    t.timestamp('at', tz).notNullable();
    t.text('resource_type').notNullable();
    t.text('resource_id').notNullable();
    t.text('action').notNullable();
    t.primary(['revision', 'resource_type', 'resource_id']);
  });

  await knex.schema.createTable('meta', (t) => {
    t.text('key').primary();
    t.text('value').notNullable();
    t.timestamp('at', tz).notNullable();
  });

  await knex.schema.createTable('plans', (t) => {
    t.text('id').primary();
    t.text('name').notNullable().unique();
    t.text('description');
    t.jsonb('limits').notNullable();
    t.text('bucket').notNullable();
    t.jsonb('quota');
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('services', (t) => {
    t.text('id').primary();
    t.text('name').notNullable().unique();
    t.text('display_name');
    t.text('description');
    t.text('plan_id').references('plans.id').onDelete('RESTRICT');
    t.boolean('self_service').notNullable();
    /** The rest of the data plane's ServiceSpec (upstreams, match, routes …), kept whole. */
    t.jsonb('spec').notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('issuers', (t) => {
    t.text('id').primary();
    t.text('issuer').notNullable().unique();
    t.jsonb('spec').notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('consumers', (t) => {
    t.text('id').primary();
    t.text('name').notNullable();
    t.text('kind').notNullable();
    t.text('plan_id').references('plans.id').onDelete('RESTRICT');
    t.boolean('disabled').notNullable();
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  await knex.schema.createTable('consumer_subjects', (t) => {
    t.text('issuer').notNullable();
    t.text('sub').notNullable();
    t.text('consumer_id').notNullable().references('consumers.id').onDelete('CASCADE').index();
    t.timestamp('created_at', tz).notNullable();
    t.primary(['issuer', 'sub']);
  });

  await knex.schema.createTable('api_keys', (t) => {
    t.text('id').primary();
    t.text('consumer_id').notNullable().references('consumers.id').onDelete('CASCADE').index();
    t.text('name');
    t.jsonb('scopes').notNullable();
    t.text('plan_id').references('plans.id').onDelete('RESTRICT');
    t.jsonb('limits').notNullable();
    t.timestamp('expires_at', tz);
    t.timestamp('revoked_at', tz);
    t.timestamp('created_at', tz).notNullable();
    t.timestamp('updated_at', tz).notNullable();
  });

  // HMAC-SHA256(pepper, key) only; after a rotation a key has a second secret until its not_after.
  await knex.schema.createTable('api_key_secrets', (t) => {
    t.text('hash').primary();
    t.text('key_id').notNullable().references('api_keys.id').onDelete('CASCADE').index();
    t.text('prefix').notNullable();
    t.timestamp('not_after', tz);
    t.timestamp('created_at', tz).notNullable();
  });

  // RESTRICT: dropping a key's last service would silently widen it to "every service".
  await knex.schema.createTable('api_key_services', (t) => {
    t.text('key_id').notNullable().references('api_keys.id').onDelete('CASCADE');
    t.text('service_id').notNullable().references('services.id').onDelete('RESTRICT').index();
    t.primary(['key_id', 'service_id']);
  });

  await knex.schema.createTable('usage_key_daily', (t) => {
    t.text('key_id').notNullable().references('api_keys.id').onDelete('CASCADE');
    t.date('day').notNullable();
    t.bigInteger('requests').notNullable();
    t.timestamp('last_used_at', tz).notNullable();
    t.primary(['key_id', 'day']);
  });

  await knex.schema.createTable('usage_consumer_daily', (t) => {
    t.text('consumer_id').notNullable().references('consumers.id').onDelete('CASCADE');
    t.date('day').notNullable();
    t.bigInteger('requests').notNullable();
    t.timestamp('last_used_at', tz).notNullable();
    t.primary(['consumer_id', 'day']);
  });

  await knex.schema.createTable('usage_batches', (t) => {
    t.text('batch_id').primary();
    t.integer('entries').notNullable();
    t.timestamp('received_at', tz).notNullable();
  });

  await knex.schema.createTable('audit_log', (t) => {
    t.bigIncrements('id').primary();
    t.timestamp('at', tz).notNullable().index();
    t.text('actor_kind').notNullable();
    t.text('actor_id').notNullable().index();
    t.text('actor_consumer_id');
    t.text('action').notNullable();
    t.text('resource_type');
    t.text('resource_id');
    t.text('outcome').notNullable();
    t.integer('status').notNullable();
    t.text('code');
    t.text('request_id').notNullable();
    t.text('ip');
    t.text('user_agent');
    t.jsonb('change');
    t.index(['resource_type', 'resource_id']);
  });
  // Append-only in the database itself, not just by convention in this code.
  await knex.raw(`
    CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      RAISE EXCEPTION 'audit_log is append-only';
    END;
    $$`);
  await knex.raw(`
    CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()`);

  // Responses to creating POSTs, replayed for a retried Idempotency-Key. Encrypted: a key create's
  // response carries the new secret, which must never sit in the database in plaintext.
  await knex.schema.createTable('idempotency_keys', (t) => {
    t.text('scope').notNullable();
    t.text('key').notNullable();
    t.text('fingerprint').notNullable();
    t.integer('status').notNullable();
    t.text('response').notNullable();
    t.timestamp('created_at', tz).notNullable().index();
    t.primary(['scope', 'key']);
  });
}

export async function down(knex: Knex): Promise<void> {
  for (const table of [
    'idempotency_keys',
    'audit_log',
    'usage_batches',
    'usage_consumer_daily',
    'usage_key_daily',
    'api_key_services',
    'api_key_secrets',
    'api_keys',
    'consumer_subjects',
    'consumers',
    'issuers',
    'services',
    'plans',
    'meta',
    'state_changes',
    'state_revision',
  ]) {
    await knex.schema.dropTableIfExists(table);
  }
  await knex.raw('DROP FUNCTION IF EXISTS audit_log_append_only()');
}
