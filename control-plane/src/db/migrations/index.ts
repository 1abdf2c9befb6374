/**
 * The ordered migration list. Migrations are imported, not discovered on disk, so the same list runs
 * from TypeScript sources (tests) and from compiled JavaScript (deployments) without file-name games.
 */
import type { Knex } from 'knex';
import { SECRETS_MIGRATION_NAME, secretsMigration } from '../../secrets/migration.js';
import * as initial from './001-initial.js';
import * as sync from './003-sync.js';
import * as threescale from './003-threescale.js';
import * as keyApproval from './004-key-approval.js';

interface NamedMigration {
  readonly name: string;
  readonly migration: Knex.Migration;
}

/** In order of application; never reorder or rename an entry once it has shipped. */
const MIGRATIONS: readonly NamedMigration[] = [
  { name: '001-initial', migration: initial },
  { name: SECRETS_MIGRATION_NAME, migration: secretsMigration },
  { name: '003-sync', migration: sync },
  { name: '003-threescale', migration: threescale },
  { name: '004-key-approval', migration: keyApproval },
];

export const migrationSource: Knex.MigrationSource<NamedMigration> = {
  getMigrations: async () => [...MIGRATIONS],
  getMigrationName: (m) => m.name,
  getMigration: async (m) => m.migration,
};

export const MIGRATION_TABLE = 'schema_migrations';

/** Brings the schema up to date; knex's lock table makes concurrent replicas take turns. */
export async function migrateToLatest(db: Knex): Promise<readonly string[]> {
  const [, applied] = (await db.migrate.latest({ migrationSource, tableName: MIGRATION_TABLE })) as [number, string[]];
  return applied;
}

/** True when every known migration has run (readiness). */
export async function schemaIsCurrent(db: Knex): Promise<boolean> {
  const [, pending] = (await db.migrate.list({ migrationSource, tableName: MIGRATION_TABLE })) as [unknown[], unknown[]];
  return pending.length === 0;
}

/** Undoes every migration (tests of the down path, and a clean slate for development). */
export async function rollbackAll(db: Knex): Promise<void> {
  await db.migrate.rollback({ migrationSource, tableName: MIGRATION_TABLE }, true);
}
