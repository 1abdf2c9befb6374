/**
 * Knex over both databases the control plane runs on: real PostgreSQL (a throw-away database per call, see
 * postgres.ts) and in-process PGlite (through knex-pglite), so storage suites can run the same cases on each.
 */
import knexPkg, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import { createTempDatabase } from './postgres.js';

export interface TestKnex {
  readonly db: Knex;
  /** Destroy the pool and drop the database. */
  close(): Promise<void>;
}

export interface KnexBackend {
  readonly label: string;
  open(label: string): Promise<TestKnex>;
}

export async function postgresKnex(label: string): Promise<TestKnex> {
  const database = await createTempDatabase(label);
  const db = knexPkg.knex({ client: 'pg', connection: database.url, pool: { min: 0, max: 4 } });
  return {
    db,
    async close() {
      await db.destroy();
      await database.drop();
    },
  };
}

export async function pgliteKnex(): Promise<TestKnex> {
  // knex-pglite fixes its own pool at one connection (PGlite is single-user); `{}` is an in-memory database
  const db = knexPkg.knex({ client: ClientPgLite, dialect: 'postgres', connection: {} });
  return { db, close: () => db.destroy() };
}

export const KNEX_BACKENDS: readonly KnexBackend[] = [
  { label: 'PostgreSQL', open: postgresKnex },
  { label: 'PGlite', open: () => pgliteKnex() },
];
