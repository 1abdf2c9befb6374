/**
 * Real PostgreSQL for tests: each suite gets its own throw-away database on the machine's server
 * (PORTCULLIS_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432), so suites never see each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';

export const ADMIN_URL = process.env['PORTCULLIS_TEST_PG_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TempDatabase {
  readonly url: string;
  readonly name: string;
  drop(): Promise<void>;
}

export async function createTempDatabase(label = 'test'): Promise<TempDatabase> {
  const name = `pc_${label.replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    name,
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}
