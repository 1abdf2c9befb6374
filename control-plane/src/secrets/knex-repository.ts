/** SecretRepository on knex: PostgreSQL through `pg`, or PGlite through `knex-pglite`. */
import type { Knex } from 'knex';
import { SECRETS_TABLE } from './migration.js';
import type { Rewrapping, SealedSecret, SecretMetadata, SecretRepository, SecretRow } from './repository.js';

interface DbRow {
  name: string;
  purpose: string;
  provider: string;
  key_id: string;
  wrapped_key: Uint8Array;
  iv: Uint8Array;
  tag: Uint8Array;
  ciphertext: Uint8Array;
  version: number | string;
  created_at: Date | string;
  updated_at: Date | string;
}

const METADATA_COLUMNS = ['name', 'purpose', 'provider', 'key_id', 'version', 'created_at', 'updated_at'] as const;

/** pg hands back Buffers, PGlite Uint8Arrays: view either as a Buffer without copying. */
function buffer(value: Uint8Array): Buffer {
  return Buffer.isBuffer(value) ? value : Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function metadataOf(row: Pick<DbRow, (typeof METADATA_COLUMNS)[number]>): SecretMetadata {
  return {
    name: row.name,
    purpose: row.purpose,
    provider: row.provider,
    keyId: row.key_id,
    version: Number(row.version),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function rowOf(row: DbRow): SecretRow {
  return {
    ...metadataOf(row),
    wrappedKey: buffer(row.wrapped_key),
    iv: buffer(row.iv),
    tag: buffer(row.tag),
    ciphertext: buffer(row.ciphertext),
  };
}

function columnsOf(secret: SealedSecret) {
  return {
    name: secret.name,
    purpose: secret.purpose,
    provider: secret.provider,
    key_id: secret.keyId,
    wrapped_key: secret.wrappedKey,
    iv: secret.iv,
    tag: secret.tag,
    ciphertext: secret.ciphertext,
  };
}

export class KnexSecretRepository implements SecretRepository {
  constructor(
    private readonly db: Knex,
    private readonly table: string = SECRETS_TABLE,
  ) {}

  async find(name: string): Promise<SecretRow | undefined> {
    const row = (await this.db<DbRow>(this.table).where({ name }).first()) as DbRow | undefined;
    return row === undefined ? undefined : rowOf(row);
  }

  async upsert(secret: SealedSecret): Promise<SecretMetadata> {
    const { name: _name, ...replacement } = columnsOf(secret);
    const rows = (await this.db(this.table)
      .insert(columnsOf(secret))
      .onConflict('name')
      .merge({ ...replacement, version: this.db.raw('??.?? + 1', [this.table, 'version']), updated_at: this.db.fn.now() })
      .returning([...METADATA_COLUMNS])) as DbRow[];
    return metadataOf(rows[0]!);
  }

  async insertIfAbsent(secret: SealedSecret): Promise<boolean> {
    const rows = (await this.db(this.table).insert(columnsOf(secret)).onConflict('name').ignore().returning(['name'])) as unknown[];
    return rows.length === 1;
  }

  async replaceWrapping(name: string, expectedVersion: number, wrapping: Rewrapping): Promise<boolean> {
    const changed = await this.db(this.table)
      .where({ name, version: expectedVersion })
      .update({
        provider: wrapping.provider,
        key_id: wrapping.keyId,
        wrapped_key: wrapping.wrappedKey,
        version: this.db.raw('?? + 1', ['version']),
        updated_at: this.db.fn.now(),
      });
    return changed === 1;
  }

  async delete(name: string): Promise<boolean> {
    // `returning` rather than the affected-row count: knex-pglite reports the count for deletes differently
    const rows = (await this.db(this.table).where({ name }).delete().returning(['name'])) as unknown[];
    return rows.length > 0;
  }

  async list(): Promise<SecretMetadata[]> {
    const rows = (await this.db(this.table).select([...METADATA_COLUMNS]).orderBy('name')) as DbRow[];
    return rows.map(metadataOf);
  }

  async page(afterName: string | undefined, limit: number): Promise<SecretRow[]> {
    const query = this.db<DbRow>(this.table).select('*').orderBy('name').limit(limit);
    if (afterName !== undefined) void query.where('name', '>', afterName);
    return ((await query) as DbRow[]).map(rowOf);
  }
}
