/**
 * `npm run migrate` (or `node dist/control-plane/src/migrate.js`): bring the database schema up to date and
 * exit, for deployments that migrate before rolling out. Needs only the database settings, no secrets.
 */
import { parseDatabaseConfig } from './config.js';
import { openDatabase } from './db/connection.js';
import { migrateToLatest } from './db/migrations/index.js';

const parsed = parseDatabaseConfig(process.env);
if (!parsed.ok) {
  process.stderr.write(`portcullis migrate: invalid configuration\n  ${parsed.errors.join('\n  ')}\n`);
  process.exit(2);
}
const db = await openDatabase(parsed.database);
try {
  const applied = await migrateToLatest(db);
  process.stdout.write(applied.length === 0 ? 'portcullis migrate: schema is up to date\n' : `portcullis migrate: applied ${applied.join(', ')}\n`);
} catch (error) {
  process.stderr.write(`portcullis migrate: failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exitCode = 1;
} finally {
  await db.destroy();
}
