import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { postgresKnex } from '../../../test/harness/knex.js';
import { secretFailure, useSecretsTable } from '../../../test/harness/secrets.js';
import { KeyHasher } from '../../../authz-service/src/credentials/api-key/format.js';
import { LocalKeyWrapProvider } from './local-provider.js';
import { MasterKeyRing } from './master-keys.js';
import { loadPepper, PEPPER_PURPOSE, PEPPER_SECRET_NAME } from './pepper.js';
import { EnvelopeSecretStore } from './store.js';

describe('loadPepper', () => {
  const masterKey = randomBytes(32);
  const table = useSecretsTable(() => postgresKnex('secrets_pepper'));

  /** A store as a freshly started control plane builds it: new provider and store objects, same database. */
  const startStore = () =>
    new EnvelopeSecretStore({
      repository: table.repository,
      provider: new LocalKeyWrapProvider(new MasterKeyRing('m', new Map([['m', masterKey]]))),
    });

  it('creates a random 32-byte pepper on first use and returns the same one after a restart', async () => {
    const first = await loadPepper(startStore(), {});
    expect(first).to.have.length(32);
    const rows = await startStore().list();
    expect(rows.map((r) => [r.name, r.purpose, r.version])).to.deep.equal([[PEPPER_SECRET_NAME, PEPPER_PURPOSE, 1]]);
    const again = await loadPepper(startStore(), {});
    expect(again.equals(first)).to.equal(true);
    expect((await startStore().list())[0]!.version).to.equal(1);
    expect(new KeyHasher(again).hash('pc_key')).to.equal(new KeyHasher(first).hash('pc_key'));
  });

  it('agrees on one pepper when several instances start at once', async () => {
    const peppers = await Promise.all(Array.from({ length: 4 }, () => loadPepper(startStore(), {})));
    expect(new Set(peppers.map((p) => p.toString('hex'))).size).to.equal(1);
    expect(await startStore().list()).to.have.length(1);
  });

  it('prefers PORTCULLIS_KEY_PEPPER, taken as UTF-8 like KeyHasher takes a string, and stores nothing', async () => {
    const configured = 'an-operator-supplied-pepper-of-40-chars!';
    const pepper = await loadPepper(startStore(), { PORTCULLIS_KEY_PEPPER: configured });
    expect(new KeyHasher(pepper).hash('pc_key')).to.equal(new KeyHasher(configured).hash('pc_key'));
    expect(await startStore().list()).to.deep.equal([]);
  });

  it('refuses a short PORTCULLIS_KEY_PEPPER without echoing it', async () => {
    const error = await secretFailure(loadPepper(startStore(), { PORTCULLIS_KEY_PEPPER: 'short-pepper' }));
    expect(error.reason).to.equal('invalid_input');
    expect(error.message).to.not.include('short-pepper');
  });
});
