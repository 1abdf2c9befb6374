import { expect } from 'chai';
import { chmod, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { CliError } from '../exit.js';
import { readJsonFile, removeFile, writePrivateFile } from './private-file.js';

describe('private files (token and config storage)', () => {
  let root: string;
  beforeEach(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'pc-cli-files-'));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('creates the directory 0700 and the file 0600 even under a permissive umask', async () => {
    const previous = process.umask(0);
    try {
      const file = path.join(root, 'nested', 'portcullis', 'tokens.json');
      await writePrivateFile(file, '{"a":1}');
      expect((await stat(path.dirname(file))).mode & 0o777).to.equal(0o700);
      expect((await stat(file)).mode & 0o777).to.equal(0o600);
      expect(await readJsonFile(file)).to.deep.equal({ a: 1 });
    } finally {
      process.umask(previous);
    }
  });

  it('replaces an existing world-readable file with a 0600 one and tightens an existing directory', async () => {
    const file = path.join(root, 'tokens.json');
    await writeFile(file, 'old', { mode: 0o644 });
    await chmod(root, 0o755);
    await writePrivateFile(file, 'new');
    expect(await readFile(file, 'utf8')).to.equal('new');
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    expect((await stat(root)).mode & 0o777).to.equal(0o700);
  });

  it('leaves no temporary files behind, also when many writers race', async () => {
    const file = path.join(root, 'tokens.json');
    await Promise.all(Array.from({ length: 20 }, (_, i) => writePrivateFile(file, JSON.stringify({ writer: i }))));
    expect(await readdir(root)).to.deep.equal(['tokens.json']);
    // whole content of one writer, never a mix
    expect((await readJsonFile(file)) as { writer: number }).to.have.property('writer').that.is.within(0, 19);
  });

  it('reads a missing file as undefined and names a corrupt one', async () => {
    expect(await readJsonFile(path.join(root, 'none.json'))).to.equal(undefined);
    const bad = path.join(root, 'bad.json');
    await writeFile(bad, '{not json');
    try {
      await readJsonFile(bad);
      expect.fail('should throw');
    } catch (error) {
      expect(error).to.be.instanceOf(CliError);
      expect((error as CliError).message).to.contain(bad);
    }
  });

  it('removes a file and reports whether there was one', async () => {
    const file = path.join(root, 'x.json');
    await writePrivateFile(file, '{}');
    expect(await removeFile(file)).to.equal(true);
    expect(await removeFile(file)).to.equal(false);
  });
});
