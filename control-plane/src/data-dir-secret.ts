/**
 * A secret generated once into the data directory (mode 0600), for the embedded single-machine setup: the
 * API-key pepper, and the local master key when the `local` secret-store provider is asked for without one.
 * Never in the database: a copy of the database alone must not be enough to test guessed keys or to decrypt.
 */
import { mkdir, open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * The file's text (trimmed), creating it with `generate()` first if it does not exist. `wx` makes creation
 * atomic: two processes starting at once cannot both write a different secret. Refuses a file other users
 * can read, as ssh does with private keys.
 */
export async function readOrCreateSecretFile(file: string, generate: () => string): Promise<string> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  let handle;
  try {
    handle = await open(file, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  if (handle) {
    try {
      await handle.writeFile(`${generate()}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
  } else {
    const info = await stat(file);
    if ((info.mode & 0o077) !== 0) {
      throw new Error(`${file} is readable by other users (mode ${(info.mode & 0o777).toString(8)}); run chmod 600 on it`);
    }
  }
  return (await readFile(file, 'utf8')).trim();
}
