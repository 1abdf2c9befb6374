/**
 * Real PostgreSQL for tests: each suite gets its own throw-away database on the machine's server
 * (PORTCULLIS_TEST_PG_URL, default postgres://postgres@127.0.0.1:5432), so suites never see each other's rows.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import pg from 'pg';
import { freePort } from './ports.js';

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

/**
 * A PostgreSQL server of its own, for suites that stop and start the database under a running control plane:
 * the machine's shared server must never go down under other suites. `initdb` in a temp directory, run as the
 * `postgres` OS user (the server refuses to run as root), trust auth, listening on 127.0.0.1 on a free port.
 */
export class PrivatePostgres {
  #running = false;

  private constructor(
    readonly port: number,
    readonly dataDir: string,
    private readonly bin: string,
  ) {}

  /** postgres://postgres@127.0.0.1:<port>/<database> */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  static async start(): Promise<PrivatePostgres> {
    const versions = (await readdir('/usr/lib/postgresql')).sort((a, b) => Number(b) - Number(a));
    if (versions.length === 0) throw new Error('no PostgreSQL binaries under /usr/lib/postgresql');
    const bin = `/usr/lib/postgresql/${versions[0]}/bin`;
    const root = await mkdtemp(join(tmpdir(), 'pc-private-pg-'));
    const owner = await postgresUser();
    await chown(root, owner.uid, owner.gid);
    const server = new PrivatePostgres(await freePort(), join(root, 'data'), bin);
    await server.#run('initdb', ['-D', server.dataDir, '-U', 'postgres', '--auth=trust', '--no-sync', '-E', 'UTF8']);
    await server.restart();
    return server;
  }

  /** Start (again) on the same port and data directory; resolves once it accepts connections. */
  async restart(): Promise<void> {
    if (this.#running) return;
    const options = `-p ${this.port} -k ${this.dataDir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=50`;
    await this.#run('pg_ctl', ['-D', this.dataDir, '-o', options, '-l', `${this.dataDir}/../server.log`, '-w', '-t', '60', 'start']);
    this.#running = true;
  }

  /** `immediate`: what a crash or a yanked cable looks like to clients; `fast`: a clean shutdown. */
  async stop(mode: 'fast' | 'immediate' = 'immediate'): Promise<void> {
    if (!this.#running) return;
    this.#running = false;
    await this.#run('pg_ctl', ['-D', this.dataDir, '-m', mode, '-w', '-t', '60', 'stop']);
  }

  async createDatabase(name: string): Promise<string> {
    const admin = new pg.Client({ connectionString: this.url() });
    await admin.connect();
    try {
      await admin.query(`CREATE DATABASE "${name}"`);
    } finally {
      await admin.end();
    }
    return this.url(name);
  }

  /** Stop and delete everything. */
  async destroy(): Promise<void> {
    await this.stop('fast').catch(() => undefined);
    await rm(dirname(this.dataDir), { recursive: true, force: true });
  }

  #run(program: string, args: readonly string[]): Promise<void> {
    return new Promise((resolve, reject) => {
      execFile('runuser', ['-u', 'postgres', '--', `${this.bin}/${program}`, ...args], { timeout: 90_000 }, (error, _stdout, stderr) =>
        error ? reject(new Error(`${program} failed: ${stderr || error.message}`)) : resolve(),
      );
    });
  }
}

async function postgresUser(): Promise<{ uid: number; gid: number }> {
  const line = (await readFile('/etc/passwd', 'utf8')).split('\n').find((l) => l.startsWith('postgres:'));
  if (!line) throw new Error('there is no postgres OS user to run a private server as');
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}
