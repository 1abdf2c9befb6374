import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { parseSecretsConfig, SecretsConfigError } from './config.js';
import { derivedKeyId, parseMasterKeys } from './master-keys.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const b64 = (key: Buffer) => key.toString('base64');

function problemsOf(env: Record<string, string>, readFile?: (path: string) => string): readonly string[] {
  try {
    parseSecretsConfig(env, readFile);
  } catch (error) {
    expect(error).to.be.instanceOf(SecretsConfigError);
    return (error as SecretsConfigError).problems;
  }
  throw new Error('expected a SecretsConfigError');
}

describe('secrets config', () => {
  it('reads a local key ring, first entry current, into a frozen object', () => {
    const config = parseSecretsConfig({ PORTCULLIS_MASTER_KEY: `b:${b64(keyB)}, a:${b64(keyA)}` });
    expect(Object.isFrozen(config)).to.equal(true);
    expect(config.provider).to.equal('local');
    expect(config.kms).to.equal(undefined);
    expect(config.masterKeys!.currentId).to.equal('b');
    expect(config.masterKeys!.ids).to.deep.equal(['b', 'a']);
    expect(config.masterKeys!.key('a')!.equals(keyA)).to.equal(true);
  });

  it('reads the ring from a file with comments and one entry per line', () => {
    const files: Record<string, string> = { '/run/keys': `# rotated 2025-06\nb:${b64(keyB)}\n\n${b64(keyA)}\n` };
    const config = parseSecretsConfig({ PORTCULLIS_MASTER_KEY_FILE: '/run/keys' }, (path) => {
      const text = files[path];
      if (text === undefined) throw Object.assign(new Error('nope'), { code: 'ENOENT' });
      return text;
    });
    expect(config.masterKeys!.ids).to.deep.equal(['b', derivedKeyId(keyA)]);
    expect(derivedKeyId(keyA)).to.match(/^k-[0-9a-f]{12}$/);
  });

  it('reads aws-kms settings, with the service-specific endpoint taking precedence', () => {
    const config = parseSecretsConfig({
      PORTCULLIS_KMS_PROVIDER: 'aws-kms',
      PORTCULLIS_KMS_KEY_ID: 'alias/portcullis',
      AWS_REGION: 'eu-west-1',
      AWS_ENDPOINT_URL: 'http://generic:1',
      AWS_ENDPOINT_URL_KMS: 'http://kms:2',
    });
    expect(config.kms).to.deep.equal({ keyId: 'alias/portcullis', region: 'eu-west-1', endpoint: 'http://kms:2' });
    expect(Object.isFrozen(config.kms)).to.equal(true);
    expect(config.masterKeys).to.equal(undefined);
  });

  it('reports every problem at once', () => {
    const problems = problemsOf({ PORTCULLIS_KMS_PROVIDER: 'vault', PORTCULLIS_MASTER_KEY: 'a:short,a:' + b64(keyA) + ',a:' + b64(keyB) });
    expect(problems.some((p) => p.includes('PORTCULLIS_KMS_PROVIDER'))).to.equal(true);
    expect(problems.some((p) => p.includes('entry 1') && p.includes('32 bytes'))).to.equal(true);
    expect(problems.some((p) => p.includes("'a' appears twice"))).to.equal(true);
    const kms = problemsOf({ PORTCULLIS_KMS_PROVIDER: 'aws-kms', AWS_ENDPOINT_URL_KMS: 'ftp://x' });
    expect(kms).to.have.length(3);
    expect(kms.join('\n')).to.include('PORTCULLIS_KMS_KEY_ID').and.include('AWS_REGION').and.include('endpoint');
  });

  it('requires a master key for local, and only one source of it', () => {
    expect(problemsOf({})).to.deep.equal(['PORTCULLIS_MASTER_KEY or PORTCULLIS_MASTER_KEY_FILE is required when PORTCULLIS_KMS_PROVIDER=local']);
    expect(problemsOf({ PORTCULLIS_MASTER_KEY: b64(keyA), PORTCULLIS_MASTER_KEY_FILE: '/x' })[0]).to.include('not both');
    const unreadable = problemsOf({ PORTCULLIS_MASTER_KEY_FILE: '/nope' }, () => {
      throw Object.assign(new Error('ENOENT: /nope'), { code: 'ENOENT' });
    });
    expect(unreadable).to.deep.equal(['PORTCULLIS_MASTER_KEY_FILE (/nope) cannot be read (ENOENT)']);
  });

  it('never quotes key material in problems or printouts', () => {
    const almost = randomBytes(31).toString('base64');
    const problems = problemsOf({ PORTCULLIS_MASTER_KEY: `x:${almost}` });
    expect(problems.join('\n')).to.not.include(almost);
    expect(problems.join('\n')).to.include('31 bytes');
    const config = parseSecretsConfig({ PORTCULLIS_MASTER_KEY: b64(keyA) });
    const printed = inspect(config, { depth: 10 }) + JSON.stringify(config);
    expect(printed).to.not.include(b64(keyA));
    expect(printed).to.not.include(keyA.toString('hex'));
    expect(printed).to.include('[redacted]');
  });

  it('rejects entries that are not strict base64 or carry a bad id', () => {
    expect(parseMasterKeys(`a:${keyA.toString('hex')}`, 'X').problems).to.have.length(1);
    expect(parseMasterKeys(`bad*id:${b64(keyA)}`, 'X').problems[0]).to.include('key ids');
    expect(parseMasterKeys('# only a comment', 'X').problems).to.deep.equal(['X holds no master key']);
  });
});
