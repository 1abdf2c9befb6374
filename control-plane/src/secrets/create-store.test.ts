import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { postgresKnex } from '../../../test/harness/knex.js';
import { useSecretsTable } from '../../../test/harness/secrets.js';
import { KmsDouble } from '../../../test/harness/kms.js';
import { parseSecretsConfig } from './config.js';
import { createSecretStore } from './create-store.js';

/** Set environment variables for the duration of `run` (the SDK's credential chain reads process.env). */
async function withEnv<T>(vars: Record<string, string>, run: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  Object.assign(process.env, vars);
  try {
    return await run();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('createSecretStore (composition from the environment)', () => {
  const table = useSecretsTable(() => postgresKnex('secrets_compose'));
  let kms: KmsDouble;

  before(async () => {
    kms = await KmsDouble.start({ region: 'eu-north-1' });
  });
  after(async () => {
    await kms?.stop();
  });

  it('builds a local store from PORTCULLIS_MASTER_KEY, then an aws-kms store at AWS_ENDPOINT_URL_KMS that still reads the local rows', async () => {
    const repository = table.repository;
    const masterKey = `m1:${randomBytes(32).toString('base64')}`;
    const local = createSecretStore(parseSecretsConfig({ PORTCULLIS_MASTER_KEY: masterKey }), { repository });
    await local.put('legacy', 'written-locally', 'p');

    const key = kms.createKey({ alias: 'alias/portcullis' });
    const env = {
      PORTCULLIS_KMS_PROVIDER: 'aws-kms',
      PORTCULLIS_KMS_KEY_ID: 'alias/portcullis',
      AWS_REGION: 'eu-north-1',
      AWS_ENDPOINT_URL_KMS: kms.endpoint,
      PORTCULLIS_MASTER_KEY: masterKey,
    };
    await withEnv({ AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }, async () => {
      const store = createSecretStore(parseSecretsConfig(env), { repository });
      await store.put('fresh', 'written-to-kms', 'p');
      expect((await store.list()).map((m) => [m.name, m.provider, m.keyId])).to.deep.equal([
        ['fresh', 'aws-kms', key.arn],
        ['legacy', 'local', 'm1'],
      ]);
      expect((await store.require('legacy', 'p')).text()).to.equal('written-locally');
      expect(await store.rewrapAll()).to.deep.include({ rewrapped: 2, complete: true });
    });
    expect(kms.requestsFor('GenerateDataKey')).to.have.length(1);
    expect(String(kms.requests[0]!.headers['authorization'])).to.include('/eu-north-1/kms/aws4_request');
  });
});
