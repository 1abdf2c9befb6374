/**
 * Opens the database: Postgres through `pg` when a URL is configured, otherwise an embedded PGlite in the
 * data directory. Both speak the same SQL, so everything above this file is dialect-free.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import ClientPgLite from 'knex-pglite';
import type { DatabaseConfig } from '../config.js';

export interface DatabaseOptions {
  /** Upper bound for one statement on Postgres, so a stuck query cannot pin a connection forever. */
  readonly statementTimeoutMs?: number;
  readonly poolMax?: number;
}

export const PGLITE_DIR_NAME = 'pglite';

export async function openDatabase(config: DatabaseConfig, options: DatabaseOptions = {}): Promise<Knex> {
  if (config.kind === 'postgres') {
    const statementTimeoutMs = Math.trunc(options.statementTimeoutMs ?? 15_000);
    return knexFactory({
      client: 'pg',
      connection: config.url.reveal(),
      pool: {
        min: 0,
        max: options.poolMax ?? 10,
        afterCreate(connection: { query(sql: string, cb: (error: Error | null) => void): void }, done: (error: Error | null, c: unknown) => void) {
          connection.query(`SET statement_timeout = ${statementTimeoutMs}`, (error) => done(error, connection));
        },
      },
      acquireConnectionTimeout: 10_000,
    });
  }
  const directory = path.join(config.dataDir, PGLITE_DIR_NAME);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  // PGlite is one connection: queries queue behind an open transaction instead of running beside it.
  return knexFactory({ client: ClientPgLite, dialect: 'postgres', connection: { filename: directory }, acquireConnectionTimeout: 30_000 });
}
