import { assert } from 'chai';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { BACKENDS, freshStorage } from '../../testing/harness.js';
import { parseDatabaseConfig } from '../../config.js';
import { openDatabase } from '../connection.js';
import { rollbackAll, schemaIsCurrent } from './index.js';

const MIGRATE = fileURLToPath(new URL('../../migrate.ts', import.meta.url));
const run = promisify(execFile);

for (const backend of BACKENDS) {
  describe(`migrations [${backend}]`, function () {
    this.timeout(120_000);

    it('run as a separate command with only the database settings, once, and roll back cleanly', async () => {
      const storage = await freshStorage(backend, 'migrate');
      try {
        // no pepper, no bootstrap key: what a Helm migration job has
        const env = { PATH: process.env['PATH'] ?? '', PORTCULLIS_DATA_DIR: storage.env['PORTCULLIS_DATA_DIR']!, ...(storage.env['PORTCULLIS_DATABASE_URL'] ? { PORTCULLIS_DATABASE_URL: storage.env['PORTCULLIS_DATABASE_URL'] } : {}) };
        const first = await run(process.execPath, ['--import', 'tsx', '--no-warnings', MIGRATE], { env });
        assert.match(first.stdout, /applied 001-initial, \S+_secrets/);
        const second = await run(process.execPath, ['--import', 'tsx', '--no-warnings', MIGRATE], { env });
        assert.match(second.stdout, /schema is up to date/);

        const parsed = parseDatabaseConfig(env);
        assert.isTrue(parsed.ok);
        if (!parsed.ok) return;
        const db = await openDatabase(parsed.database);
        try {
          assert.isTrue(await schemaIsCurrent(db));
          await rollbackAll(db);
          const tables = (await db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name')) as string[];
          assert.sameMembers(tables, ['schema_migrations', 'schema_migrations_lock']);
          assert.isFalse(await schemaIsCurrent(db));
        } finally {
          await db.destroy();
        }
      } finally {
        await storage.cleanup();
      }
    });
  });
}
