import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import type { KMSClient } from '@aws-sdk/client-kms';
import { postgresKnex } from '../../../test/harness/knex.js';
import { useSecretsTable } from '../../../test/harness/secrets.js';
import { KmsDouble, kmsClientOptions } from '../../../test/harness/kms.js';
import { freePort } from '../../../test/harness/ports.js';
import { AwsKmsKeyWrapProvider, createKmsClient } from './aws-kms-provider.js';
import { KnexSecretRepository } from './knex-repository.js';
import { LocalKeyWrapProvider } from './local-provider.js';
import { MasterKeyRing } from './master-keys.js';
import { SECRETS_TABLE } from './migration.js';
import type { Rewrapping, SecretRepository } from './repository.js';
import { EnvelopeSecretStore, type SecretStore } from './store.js';

const keyA = randomBytes(32);
const keyB = randomBytes(32);
const localProvider = (current: string, keys: Record<string, Buffer>) => new LocalKeyWrapProvider(new MasterKeyRing(current, new Map(Object.entries(keys))));

const SECRETS = Object.freeze({
  'portcullis/api-key-pepper': ['api-key-pepper', 'pepper-0123456789abcdef0123456789abcdef'],
  'threescale/admin': ['threescale-access-token', 'tok-3scale-abcdef'],
  'upstream/llm': ['upstream-credential', 'Bearer upstream-llm-token'],
  'upstream/vision': ['upstream-credential', 'vision-password-42'],
  'upstream/zeta': ['upstream-credential', 'zeta-secret'],
} as const);

async function writeAll(store: SecretStore): Promise<void> {
  for (const [name, [purpose, value]] of Object.entries(SECRETS)) await store.put(name, value, purpose);
}

async function expectAllReadable(store: SecretStore): Promise<void> {
  for (const [name, [purpose, value]] of Object.entries(SECRETS)) expect((await store.require(name, purpose)).text(), name).to.equal(value);
}

/** A repository that lets a test act just before and just after each re-wrap swap. */
class ObservedRepository implements SecretRepository {
  swaps = 0;
  constructor(
    private readonly inner: SecretRepository,
    private readonly around: { before?: (name: string, swap: number) => Promise<void>; after?: (name: string, swap: number) => Promise<void> },
  ) {}
  find = (name: string) => this.inner.find(name);
  upsert = (...args: Parameters<SecretRepository['upsert']>) => this.inner.upsert(...args);
  insertIfAbsent = (...args: Parameters<SecretRepository['insertIfAbsent']>) => this.inner.insertIfAbsent(...args);
  delete = (name: string) => this.inner.delete(name);
  list = () => this.inner.list();
  page = (after: string | undefined, limit: number) => this.inner.page(after, limit);
  async replaceWrapping(name: string, expectedVersion: number, wrapping: Rewrapping): Promise<boolean> {
    const swap = ++this.swaps;
    await this.around.before?.(name, swap);
    const swapped = await this.inner.replaceWrapping(name, expectedVersion, wrapping);
    await this.around.after?.(name, swap);
    return swapped;
  }
}

describe('key rotation: rewrapAll', () => {
  const table = useSecretsTable(() => postgresKnex('secrets_rewrap'));

  describe('local master keys', () => {
    it('moves every data key from key A to key B while readers on either side of the rollout keep reading', async () => {
      await writeAll(new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('a', { a: keyA }) }));
      const rotatedReader = new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('b', { b: keyB, a: keyA }) });
      const rollingReader = new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('a', { a: keyA, b: keyB }) });
      const observed = new ObservedRepository(table.repository, {
        before: async () => {
          await expectAllReadable(rotatedReader);
          await expectAllReadable(rollingReader);
        },
        after: async () => {
          await expectAllReadable(rotatedReader);
          await expectAllReadable(rollingReader);
        },
      });
      const rotating = new EnvelopeSecretStore({ repository: observed, provider: localProvider('b', { b: keyB, a: keyA }) });
      const report = await rotating.rewrapAll({ pageSize: 2 });
      expect(report).to.deep.equal({ examined: 5, rewrapped: 5, alreadyCurrent: 0, changedMeanwhile: 0, failed: [], complete: true });
      expect(observed.swaps).to.equal(5);
      expect((await rotating.list()).map((m) => [m.keyId, m.version])).to.deep.equal(Array(5).fill(['b', 2]));

      // key A can go: everything opens with B alone, nothing with A alone
      await expectAllReadable(new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('b', { b: keyB }) }));
      const onlyA = new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('a', { a: keyA }) });
      let refused = 0;
      for (const [name, [purpose]] of Object.entries(SECRETS)) await onlyA.get(name, purpose).catch(() => refused++);
      expect(refused).to.equal(5);

      expect(await rotating.rewrapAll()).to.deep.include({ examined: 5, rewrapped: 0, alreadyCurrent: 5, complete: true });
    });

    it('leaves a row alone when a put replaced it mid-rewrap (it is already under the current key)', async () => {
      await writeAll(new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('a', { a: keyA }) }));
      const current = localProvider('b', { b: keyB, a: keyA });
      const writer = new EnvelopeSecretStore({ repository: table.repository, provider: current });
      const observed = new ObservedRepository(table.repository, {
        before: async (name, swap) => {
          if (swap === 2) await writer.put(name, 'written during the rewrap', SECRETS['threescale/admin'][0]);
        },
      });
      const report = await new EnvelopeSecretStore({ repository: observed, provider: current }).rewrapAll();
      expect(report).to.deep.include({ examined: 5, rewrapped: 4, changedMeanwhile: 1, complete: true });
      expect((await writer.require('threescale/admin', 'threescale-access-token')).text()).to.equal('written during the rewrap');
      expect((await writer.list()).every((m) => m.keyId === 'b')).to.equal(true);
    });

    it('reports rows it cannot open and carries on with the rest', async () => {
      await writeAll(new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('a', { a: keyA }) }));
      await table.db(SECRETS_TABLE).where({ name: 'upstream/llm' }).update({ purpose: 'moved-elsewhere' });
      const report = await new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('b', { b: keyB, a: keyA }) }).rewrapAll();
      expect(report).to.deep.include({ examined: 5, rewrapped: 4, complete: true });
      expect(report.failed.map((f) => [f.name, f.reason])).to.deep.equal([['upstream/llm', 'undecryptable']]);
      expect((await table.repository.find('upstream/llm'))!.keyId).to.equal('a');
    });
  });

  describe('AWS KMS keys', () => {
    let kms: KmsDouble;
    let client: KMSClient;

    before(async () => {
      kms = await KmsDouble.start();
      client = createKmsClient(kmsClientOptions(kms));
    });
    after(async () => {
      client.destroy();
      await kms.stop();
    });

    it('re-wraps under the key an alias now points to with ReEncrypt; the old key can then be deleted', async () => {
      const a = kms.createKey({ alias: 'alias/rotate' });
      const provider = new AwsKmsKeyWrapProvider(client, 'alias/rotate');
      const store = new EnvelopeSecretStore({ repository: table.repository, provider });
      await writeAll(store);
      const b = kms.createKey();
      kms.createAlias('alias/rotate', b.keyId);
      kms.clearRequests();
      const observed = new ObservedRepository(table.repository, { before: () => expectAllReadable(store), after: () => expectAllReadable(store) });
      const report = await new EnvelopeSecretStore({ repository: observed, provider }).rewrapAll();
      expect(report).to.deep.include({ examined: 5, rewrapped: 5, complete: true });
      expect(new Set((await store.list()).map((m) => m.keyId))).to.deep.equal(new Set([b.arn]));
      const reEncrypts = kms.requestsFor('ReEncrypt');
      expect(reEncrypts).to.have.length(5);
      expect(reEncrypts.every((r) => r.body!['SourceKeyId'] === a.arn && r.body!['DestinationKeyId'] === 'alias/rotate')).to.equal(true);
      expect(reEncrypts.map((r) => (r.body!['DestinationEncryptionContext'] as Record<string, string>)['portcullis:secret']).sort()).to.deep.equal(Object.keys(SECRETS));
      for (const request of kms.requests) for (const [, value] of Object.values(SECRETS)) expect(request.rawBody).to.not.include(Buffer.from(value).toString('base64'));
      kms.deleteKey(a.keyId);
      await expectAllReadable(store);
    });

    it('stops when KMS becomes unavailable mid-run, leaves every row readable, and finishes when run again', async () => {
      kms.createKey({ alias: 'alias/flaky' });
      const provider = new AwsKmsKeyWrapProvider(client, 'alias/flaky');
      const store = new EnvelopeSecretStore({ repository: table.repository, provider });
      await writeAll(store);
      const observed = new ObservedRepository(table.repository, {
        after: async (_name, swap) => {
          if (swap === 2) kms.failNext('KMSInternalException', { target: 'ReEncrypt', status: 500 });
        },
      });
      const first = await new EnvelopeSecretStore({ repository: observed, provider }).rewrapAll();
      expect(first).to.deep.include({ examined: 3, rewrapped: 2, complete: false });
      expect(first.failed.map((f) => f.reason)).to.deep.equal(['kms_unavailable']);
      await expectAllReadable(store);
      expect((await store.list()).map((m) => m.version)).to.deep.equal([2, 2, 1, 1, 1]);
      expect(await store.rewrapAll()).to.deep.include({ examined: 5, rewrapped: 5, complete: true });
      await expectAllReadable(store);
    });

    it('does not touch a row when KMS is unreachable', async () => {
      kms.createKey({ alias: 'alias/kept' });
      const store = new EnvelopeSecretStore({ repository: table.repository, provider: new AwsKmsKeyWrapProvider(client, 'alias/kept') });
      await writeAll(store);
      const before = await store.list();
      const nowhere = createKmsClient(kmsClientOptions({ region: kms.region, endpoint: `http://127.0.0.1:${await freePort()}` }));
      try {
        const report = await new EnvelopeSecretStore({ repository: table.repository, provider: new AwsKmsKeyWrapProvider(nowhere, 'alias/kept') }).rewrapAll();
        expect(report).to.deep.include({ examined: 1, rewrapped: 0, complete: false });
        expect(report.failed[0]!.message).to.include('ECONNREFUSED');
      } finally {
        nowhere.destroy();
      }
      expect(await store.list()).to.deep.equal(before);
      await expectAllReadable(store);
    });

    it('moves rows from the local provider into KMS, after which the master key is no longer needed', async () => {
      await writeAll(new EnvelopeSecretStore({ repository: table.repository, provider: localProvider('a', { a: keyA }) }));
      const target = kms.createKey({ alias: 'alias/migrate' });
      const kmsProvider = new AwsKmsKeyWrapProvider(client, 'alias/migrate');
      const both = new EnvelopeSecretStore({ repository: table.repository, provider: kmsProvider, previousProviders: [localProvider('a', { a: keyA })] });
      await expectAllReadable(both);
      kms.clearRequests();
      expect(await both.rewrapAll()).to.deep.include({ examined: 5, rewrapped: 5, complete: true });
      expect((await both.list()).every((m) => m.provider === 'aws-kms' && m.keyId === target.arn)).to.equal(true);
      expect(kms.requestsFor('Encrypt')).to.have.length(5);
      for (const request of kms.requests) for (const [, value] of Object.values(SECRETS)) expect(request.rawBody).to.not.include(Buffer.from(value).toString('base64'));
      await expectAllReadable(new EnvelopeSecretStore({ repository: table.repository, provider: kmsProvider }));
    });
  });
});
