import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { KMSClient } from '@aws-sdk/client-kms';
import type { Knex } from 'knex';
import { KNEX_BACKENDS } from '../../../test/harness/knex.js';
import { KmsDouble, kmsClientOptions } from '../../../test/harness/kms.js';
import { freePort } from '../../../test/harness/ports.js';
import { AwsKmsKeyWrapProvider, createKmsClient } from './aws-kms-provider.js';
import type { KeyWrapProvider, KeyWrapProviderName } from './key-wrap.js';
import type { SealedSecret } from './repository.js';
import { KnexSecretRepository } from './knex-repository.js';
import { LocalKeyWrapProvider } from './local-provider.js';
import { MasterKeyRing } from './master-keys.js';
import { SECRETS_TABLE } from './migration.js';
import { EnvelopeSecretStore } from './store.js';
import { secretFailure, useSecretsTable } from '../../../test/harness/secrets.js';

/** Every form in which a plaintext could show up in bytes or text. */
function forms(plaintext: string): string[] {
  const bytes = Buffer.from(plaintext);
  return [plaintext, bytes.toString('base64'), bytes.toString('hex'), bytes.toString('base64url')];
}

async function flipByte(db: Knex, name: string, column: 'ciphertext' | 'tag' | 'iv' | 'wrapped_key'): Promise<void> {
  const row = (await db(SECRETS_TABLE).where({ name }).first()) as Record<string, Uint8Array>;
  const bytes = Buffer.from(row[column]!);
  bytes[bytes.length - 1]! ^= 0x01;
  await db(SECRETS_TABLE).where({ name }).update({ [column]: bytes });
}

function sealedRow(name: string): SealedSecret {
  return { name, purpose: 'p', provider: 'local', keyId: 'k1', wrappedKey: randomBytes(60), iv: randomBytes(12), tag: randomBytes(16), ciphertext: randomBytes(20) };
}

for (const backend of KNEX_BACKENDS) {
  // one database per backend for the whole file: PGlite takes seconds to start on a loaded machine
  describe(`secrets on ${backend.label}`, () => {
    const table = useSecretsTable(() => backend.open('secrets_store'));

    describe('KnexSecretRepository', () => {
      it('inserts if absent exactly once, and upserts with a growing version', async () => {
        expect(await table.repository.insertIfAbsent(sealedRow('a'))).to.equal(true);
        expect(await table.repository.insertIfAbsent(sealedRow('a'))).to.equal(false);
        const replaced = await table.repository.upsert({ ...sealedRow('a'), purpose: 'q' });
        expect(replaced).to.include({ name: 'a', purpose: 'q', version: 2 });
        const row = (await table.repository.find('a'))!;
        expect(row.version).to.equal(2);
        expect(Buffer.isBuffer(row.ciphertext) && Buffer.isBuffer(row.iv)).to.equal(true);
        expect(await table.repository.find('zzz')).to.equal(undefined);
      });

      it('swaps the wrapping only at the expected version', async () => {
        await table.repository.upsert(sealedRow('a'));
        const wrapping = { provider: 'aws-kms', keyId: 'arn:k2', wrappedKey: randomBytes(80) };
        expect(await table.repository.replaceWrapping('a', 2, wrapping)).to.equal(false);
        expect(await table.repository.replaceWrapping('a', 1, wrapping)).to.equal(true);
        expect(await table.repository.replaceWrapping('a', 1, wrapping)).to.equal(false);
        const row = (await table.repository.find('a'))!;
        expect(row).to.include({ provider: 'aws-kms', keyId: 'arn:k2', version: 2 });
        expect(row.wrappedKey.equals(wrapping.wrappedKey)).to.equal(true);
      });

      it('pages through rows by name and refuses malformed rows', async () => {
        for (const name of ['c', 'a', 'e', 'b', 'd']) await table.repository.upsert(sealedRow(name));
        const first = await table.repository.page(undefined, 2);
        const second = await table.repository.page(first.at(-1)!.name, 2);
        const third = await table.repository.page(second.at(-1)!.name, 2);
        expect([...first, ...second, ...third].map((r) => r.name)).to.deep.equal(['a', 'b', 'c', 'd', 'e']);
        let refused = false;
        try {
          await table.repository.upsert({ ...sealedRow('bad'), iv: randomBytes(11) });
        } catch {
          refused = true;
        }
        expect(refused).to.equal(true);
        expect(await table.repository.find('bad')).to.equal(undefined);
      });
    });

    it('binds the value itself to name and purpose, not only its data key', async () => {
      // a provider that ignores the context entirely: only the value's own additional data can refuse now
      const careless: KeyWrapProvider = {
        name: 'local',
        generateDataKey: async () => {
          const plaintext = randomBytes(32);
          return { keyId: 'none', wrapped: Buffer.from(plaintext), plaintext };
        },
        unwrap: async (key) => Buffer.from(key.wrapped),
        wrap: async (plaintext) => ({ keyId: 'none', wrapped: Buffer.from(plaintext) }),
        rewrap: async () => undefined,
      };
      const store = new EnvelopeSecretStore({ repository: table.repository, provider: careless });
      await store.put('bound', 'value-bound-by-aad', 'purpose-one');
      expect((await store.require('bound', 'purpose-one')).text()).to.equal('value-bound-by-aad');
      expect((await secretFailure(store.get('bound', 'purpose-two'))).reason).to.equal('undecryptable');
      await table.db.raw(`insert into ${SECRETS_TABLE} (name, purpose, provider, key_id, wrapped_key, iv, tag, ciphertext)
        select 'rebound', purpose, provider, key_id, wrapped_key, iv, tag, ciphertext from ${SECRETS_TABLE} where name = 'bound'`);
      expect((await secretFailure(store.get('rebound', 'purpose-one'))).reason).to.equal('undecryptable');
    });

    for (const providerName of ['local', 'aws-kms'] as const satisfies readonly KeyWrapProviderName[]) {
      describe(`SecretStore with the ${providerName} provider`, () => {
        let provider: KeyWrapProvider;
        let store: EnvelopeSecretStore;
        let kms: KmsDouble | undefined;
        let client: KMSClient | undefined;
        let kmsKeyId = '';

        before(async () => {
          if (providerName === 'aws-kms') {
            kms = await KmsDouble.start();
            kmsKeyId = kms.createKey({ alias: 'alias/portcullis-secrets' }).keyId;
            client = createKmsClient(kmsClientOptions(kms));
            provider = new AwsKmsKeyWrapProvider(client, 'alias/portcullis-secrets');
          } else {
            provider = new LocalKeyWrapProvider(new MasterKeyRing('dev', new Map([['dev', randomBytes(32)]])));
          }
          store = new EnvelopeSecretStore({ repository: table.repository, provider });
        });
        after(async () => {
          client?.destroy();
          await kms?.stop();
        });
        beforeEach(() => kms?.clearRequests());

        it('round-trips text and binary values; a replacement bumps the version', async () => {
          const first = await store.put('threescale/admin', 'tok-3scale-0123456789', 'threescale-access-token');
          expect(first).to.include({ name: 'threescale/admin', purpose: 'threescale-access-token', provider: providerName, version: 1 });
          expect((await store.require('threescale/admin', 'threescale-access-token')).text()).to.equal('tok-3scale-0123456789');
          const binary = randomBytes(48);
          await store.put('upstream/llm/tls-key', binary, 'upstream-credential');
          expect((await store.require('upstream/llm/tls-key', 'upstream-credential')).bytes().equals(binary)).to.equal(true);
          const second = await store.put('threescale/admin', 'tok-rotated', 'threescale-access-token');
          expect(second.version).to.equal(2);
          expect(second.createdAt.getTime()).to.equal(first.createdAt.getTime());
          expect((await store.require('threescale/admin', 'threescale-access-token')).text()).to.equal('tok-rotated');
        });

        it('uses a fresh data key and IV for every value', async () => {
          await store.put('a', 'same value', 'p');
          await store.put('b', 'same value', 'p');
          const [a, b] = [(await table.repository.find('a'))!, (await table.repository.find('b'))!];
          expect(a.iv.equals(b.iv)).to.equal(false);
          expect(a.wrappedKey.equals(b.wrappedKey)).to.equal(false);
          expect(a.ciphertext.equals(b.ciphertext)).to.equal(false);
          if (kms) expect(kms.requestsFor('GenerateDataKey')).to.have.length(2);
        });

        it('lists names and metadata only, and deletes', async () => {
          await store.put('svc/one', 'secret-one', 'upstream-credential');
          await store.put('svc/two', 'secret-two', 'upstream-credential');
          const listed = await store.list();
          expect(listed.map((m) => m.name)).to.deep.equal(['svc/one', 'svc/two']);
          expect(Object.keys(listed[0]!).sort()).to.deep.equal(['createdAt', 'keyId', 'name', 'provider', 'purpose', 'updatedAt', 'version']);
          if (kms) expect(listed[0]!.keyId).to.equal(`arn:aws:kms:us-east-1:111122223333:key/${kmsKeyId}`);
          expect(await store.delete('svc/one')).to.equal(true);
          expect(await store.delete('svc/one')).to.equal(false);
          expect(await store.get('svc/one', 'upstream-credential')).to.equal(undefined);
          const missing = await secretFailure(store.require('svc/one', 'upstream-credential'));
          expect([missing.reason, missing.code]).to.deep.equal(['not_found', 'not_found']);
        });

        it('refuses to open a value for another purpose, or under another name', async () => {
          await store.put('threescale/admin', 'tok-purpose-bound', 'threescale-access-token');
          const wrongPurpose = await secretFailure(store.get('threescale/admin', 'upstream-credential'));
          expect([wrongPurpose.reason, wrongPurpose.code]).to.deep.equal(['undecryptable', 'internal_error']);
          expect(wrongPurpose.message).to.include("'threescale/admin'").and.not.include('tok-purpose-bound');
          if (kms) expect(wrongPurpose.details['exception']).to.equal('InvalidCiphertextException');
          await table.db.raw(`insert into ${SECRETS_TABLE} (name, purpose, provider, key_id, wrapped_key, iv, tag, ciphertext)
            select 'copied', purpose, provider, key_id, wrapped_key, iv, tag, ciphertext from ${SECRETS_TABLE} where name = 'threescale/admin'`);
          expect((await secretFailure(store.get('copied', 'threescale-access-token'))).reason).to.equal('undecryptable');
          await table.db(SECRETS_TABLE).where({ name: 'threescale/admin' }).update({ purpose: 'upstream-credential' });
          expect((await secretFailure(store.get('threescale/admin', 'upstream-credential'))).reason).to.equal('undecryptable');
        });

        for (const column of ['ciphertext', 'tag', 'iv', 'wrapped_key'] as const) {
          it(`detects a tampered ${column}`, async () => {
            await store.put('tamper/me', 'tamper-evident-value', 'upstream-credential');
            await flipByte(table.db, 'tamper/me', column);
            const error = await secretFailure(store.get('tamper/me', 'upstream-credential'));
            expect(error.reason).to.equal('undecryptable');
            expect(error.message).to.not.include('tamper-evident-value');
          });
        }

        it('never lets the plaintext reach the database or the wire', async () => {
          const plaintext = `pc-upstream-password-${randomBytes(8).toString('hex')}`;
          await store.put('upstream/db', plaintext, 'upstream-credential');
          const dump = (await table.db.raw(`select t::text as row from ${SECRETS_TABLE} t`)) as { rows: Array<{ row: string }> };
          const text = dump.rows.map((r) => r.row).join('\n');
          expect(text).to.include('upstream/db');
          for (const form of forms(plaintext)) expect(text).to.not.include(form);
          const row = (await table.db(SECRETS_TABLE).where({ name: 'upstream/db' }).first()) as Record<string, unknown>;
          for (const value of Object.values(row)) {
            const bytes = value instanceof Uint8Array ? Buffer.from(value) : Buffer.from(String(value));
            expect(bytes.includes(Buffer.from(plaintext))).to.equal(false);
          }
          if (kms) {
            expect((await store.require('upstream/db', 'upstream-credential')).text()).to.equal(plaintext);
            expect(kms.requests.length).to.be.greaterThan(1);
            for (const request of kms.requests) for (const form of forms(plaintext)) expect(request.rawBody).to.not.include(form);
          }
        });

        it('refuses malformed names, purposes and sizes without writing anything', async () => {
          for (const attempt of [
            store.put('', 'x', 'p'),
            store.put('has space', 'x', 'p'),
            store.put('ok', 'x', 'Not A Purpose'),
            store.put('ok', '', 'p'),
            store.put('ok', Buffer.alloc(64 * 1024 + 1), 'p'),
            store.get('ok', ''),
          ]) {
            const error = await secretFailure(attempt);
            expect([error.reason, error.code]).to.deep.equal(['invalid_input', 'validation_failed']);
          }
          expect(await store.list()).to.deep.equal([]);
          if (kms) expect(kms.requests).to.deep.equal([]);
        });

        it('prints placeholders for values and the store', async () => {
          await store.put('printed', 'do-not-print-me', 'p');
          const value = await store.require('printed', 'p');
          const printed = inspect({ value, store }, { depth: 10 }) + JSON.stringify({ value }) + `${value}`;
          expect(printed).to.not.include('do-not-print-me');
          expect(printed).to.include('[redacted]');
          value.wipe();
          expect(value.bytes().every((b) => b === 0)).to.equal(true);
        });

        if (providerName === 'aws-kms') {
          it('writes nothing when KMS is unreachable, and keeps the previous value', async () => {
            await store.put('kept', 'old-value', 'p');
            const nowhere = createKmsClient(kmsClientOptions({ region: 'us-east-1', endpoint: `http://127.0.0.1:${await freePort()}` }));
            try {
              const cut = new EnvelopeSecretStore({ repository: table.repository, provider: new AwsKmsKeyWrapProvider(nowhere, 'alias/portcullis-secrets') });
              for (const attempt of [cut.put('kept', 'new-value', 'p'), cut.put('fresh', 'v', 'p'), cut.putIfAbsent('fresh', 'v', 'p'), cut.get('kept', 'p')]) {
                const error = await secretFailure(attempt);
                expect([error.reason, error.code]).to.deep.equal(['kms_unavailable', 'dependency_unavailable']);
              }
            } finally {
              nowhere.destroy();
            }
            expect((await store.list()).map((m) => [m.name, m.version])).to.deep.equal([['kept', 1]]);
            expect((await store.require('kept', 'p')).text()).to.equal('old-value');
          });

          it('reports a disabled key clearly, and works again once it is enabled', async () => {
            await store.put('guarded', 'v1', 'p');
            kms!.setKeyEnabled(kmsKeyId, false);
            try {
              for (const attempt of [store.get('guarded', 'p'), store.put('guarded', 'v2', 'p')]) {
                const error = await secretFailure(attempt);
                expect([error.reason, error.code]).to.deep.equal(['kms_key_disabled', 'upstream_provider_error']);
                expect(error.message).to.include('DisabledException');
              }
            } finally {
              kms!.setKeyEnabled(kmsKeyId, true);
            }
            expect((await store.require('guarded', 'p')).text()).to.equal('v1');
          });
        }
      });
    }
  });
}
