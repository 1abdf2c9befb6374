/**
 * A secret generated once into the data directory (mode 0600), for the embedded single-machine setup: the
 * API-key pepper, and the local master key when the `local` secret-store provider is asked for without one.
 * Never in the database: a copy of the database alone must not be enough to test guessed keys or to decrypt.
 */
import { randomBytes } from 'node:crypto';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';

/**
 * The file's text (trimmed), creating it with `generate()` first if it does not exist. The secret is written
 * whole to a private temporary file and then published with link(), which is atomic and fails if the name
 * exists: two processes starting at once agree on one secret, and neither can read a half-written file.
 * Refuses a file other users can read, as ssh does with private keys.
 */
export async function readOrCreateSecretFile(file: string, generate: () => string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const existing = await readIfPresent(file);
  if (existing !== undefined) return existing;
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${generate()}\n`, 'utf8');
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await unlink(temporary);
  }
  return (await readIfPresent(file))!;
}

async function readIfPresent(file: string): Promise<string | undefined> {
  let info;
  try {
    info = await stat(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if ((info.mode & 0o077) !== 0) {
    throw new Error(`${file} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 on it`);
  }
  return (await readFile(file, 'utf8')).trim();
}
