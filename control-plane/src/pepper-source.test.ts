import { assert } from 'chai';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { KeyHasher } from '../../authz-service/src/credentials/api-key/format.js';
import { Secret } from '../../authz-service/src/core/secret.js';
import { DataDirPepper, EnvironmentPepper, PEPPER_FILE_NAME } from './pepper-source.js';

describe('pepper sources', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'pc-pepper-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('generates a pepper into the data directory once, readable by the owner only, and reuses it', async () => {
    const first = await new DataDirPepper(dir).load();
    assert.isAtLeast(first.length, 32);
    const file = path.join(dir, PEPPER_FILE_NAME);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const again = await new DataDirPepper(dir).load();
    assert.isTrue(again.equals(first));
    // the file's text is the pepper, exactly as PORTCULLIS_KEY_PEPPER would be
    const text = (await readFile(file, 'utf8')).trim();
    assert.equal(new KeyHasher(text).hash('pc_x'), new KeyHasher(first).hash('pc_x'));
    assert.equal(await new EnvironmentPepper(new Secret(text)).load().then((p) => new KeyHasher(p).hash('pc_x')), new KeyHasher(first).hash('pc_x'));
  });

  it('agrees on one pepper when several processes start at once', async () => {
    const peppers = await Promise.all(Array.from({ length: 25 }, () => new DataDirPepper(dir).load()));
    assert.lengthOf(new Set(peppers.map((p) => p.toString('hex'))), 1);
  });

  it('refuses a pepper file other users can read', async () => {
    await new DataDirPepper(dir).load();
    await chmod(path.join(dir, PEPPER_FILE_NAME), 0o644);
    let message = '';
    try {
      await new DataDirPepper(dir).load();
    } catch (error) {
      message = (error as Error).message;
    }
    assert.match(message, /readable by other users/);
  });
});
