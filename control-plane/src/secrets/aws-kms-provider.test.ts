import { expect } from 'chai';
import type { KMSClient } from '@aws-sdk/client-kms';
import { freePort } from '../../../test/harness/ports.js';
import { KmsDouble, kmsClientOptions } from '../../../test/harness/kms.js';
import { AwsKmsKeyWrapProvider, createKmsClient } from './aws-kms-provider.js';
import { CONTEXT_PURPOSE_KEY, CONTEXT_SECRET_KEY, encryptionContext } from './context.js';
import { secretFailure } from '../../../test/harness/secrets.js';

describe('aws-kms key-wrap provider (real SDK against the KMS double)', () => {
  let kms: KmsDouble;
  let client: KMSClient;
  const context = encryptionContext('threescale/admin', 'threescale-access-token');

  before(async () => {
    kms = await KmsDouble.start({ region: 'eu-central-1' });
    client = createKmsClient(kmsClientOptions(kms));
  });
  after(async () => {
    client.destroy();
    await kms.stop();
  });
  beforeEach(() => kms.clearRequests());

  it('asks GenerateDataKey for AES_256 under the secret’s EncryptionContext and Decrypts with the same', async () => {
    const key = kms.createKey({ alias: 'alias/portcullis' });
    const provider = new AwsKmsKeyWrapProvider(client, 'alias/portcullis');
    const dataKey = await provider.generateDataKey(context);
    expect(dataKey.keyId).to.equal(key.arn);
    expect(dataKey.plaintext).to.have.length(32);
    const generate = kms.requestsFor('GenerateDataKey')[0]!;
    expect(generate.body).to.deep.equal({
      KeyId: 'alias/portcullis',
      KeySpec: 'AES_256',
      EncryptionContext: { [CONTEXT_PURPOSE_KEY]: 'threescale-access-token', [CONTEXT_SECRET_KEY]: 'threescale/admin' },
    });
    const back = await provider.unwrap(dataKey, context);
    expect(back.equals(dataKey.plaintext)).to.equal(true);
    const decrypt = kms.requestsFor('Decrypt')[0]!;
    expect(decrypt.body!['EncryptionContext']).to.deep.equal(generate.body!['EncryptionContext']);
    expect(decrypt.body!['KeyId']).to.equal(key.arn);
    expect(decrypt.body!['CiphertextBlob']).to.equal(dataKey.wrapped.toString('base64'));
  });

  it('turns InvalidCiphertextException for another purpose into a clean undecryptable error', async () => {
    kms.createKey({ alias: 'alias/ctx' });
    const provider = new AwsKmsKeyWrapProvider(client, 'alias/ctx');
    const dataKey = await provider.generateDataKey(context);
    const error = await secretFailure(provider.unwrap(dataKey, encryptionContext('threescale/admin', 'api-key-pepper')));
    expect(error.reason).to.equal('undecryptable');
    expect(error.code).to.equal('internal_error');
    expect(error.details['exception']).to.equal('InvalidCiphertextException');
    expect(error.details['httpStatus']).to.equal(400);
    expect(error.details['requestId']).to.match(/^[0-9a-f-]{36}$/);
    expect(error.message).to.match(/^KMS Decrypt failed with InvalidCiphertextException \(HTTP 400, request id [0-9a-f-]{36}\)$/);
    expect(error.cause).to.equal(undefined);
  });

  it('reports a disabled key, an unknown key and an internal failure by reason', async () => {
    const key = kms.createKey();
    const provider = new AwsKmsKeyWrapProvider(client, key.keyId);
    const dataKey = await provider.generateDataKey(context);
    kms.setKeyEnabled(key.keyId, false);
    const disabled = await secretFailure(provider.unwrap(dataKey, context));
    expect([disabled.reason, disabled.code]).to.deep.equal(['kms_key_disabled', 'upstream_provider_error']);
    expect((await secretFailure(provider.generateDataKey(context))).reason).to.equal('kms_key_disabled');
    kms.setKeyEnabled(key.keyId, true);
    const missing = await secretFailure(new AwsKmsKeyWrapProvider(client, 'alias/none').generateDataKey(context));
    expect(missing.reason).to.equal('kms_key_not_found');
    kms.failNext('KMSInternalException', { status: 500 });
    const internal = await secretFailure(provider.unwrap(dataKey, context));
    expect([internal.reason, internal.code]).to.deep.equal(['kms_unavailable', 'dependency_unavailable']);
    kms.failNext('ThrottlingException');
    expect((await secretFailure(provider.unwrap(dataKey, context))).reason).to.equal('kms_unavailable');
    kms.failNext('AccessDeniedException');
    expect((await secretFailure(provider.unwrap(dataKey, context))).reason).to.equal('kms_access_denied');
  });

  it('reports an unreachable KMS as kms_unavailable without a stack of SDK detail', async () => {
    const nowhere = createKmsClient(kmsClientOptions({ region: 'eu-central-1', endpoint: `http://127.0.0.1:${await freePort()}` }));
    try {
      const error = await secretFailure(new AwsKmsKeyWrapProvider(nowhere, 'alias/x').generateDataKey(context));
      expect([error.reason, error.code]).to.deep.equal(['kms_unavailable', 'dependency_unavailable']);
      expect(error.message).to.equal('KMS GenerateDataKey could not be completed (ECONNREFUSED)');
      expect(error.cause).to.equal(undefined);
    } finally {
      nowhere.destroy();
    }
  });

  it('re-wraps with ReEncrypt so the data key never crosses the wire, and follows a moved alias', async () => {
    const a = kms.createKey({ alias: 'alias/rotating' });
    const provider = new AwsKmsKeyWrapProvider(client, 'alias/rotating');
    const dataKey = await provider.generateDataKey(context);
    const b = kms.createKey();
    kms.createAlias('alias/rotating', b.keyId);
    kms.clearRequests();
    const moved = await provider.rewrap(dataKey, context);
    expect(moved.keyId).to.equal(b.arn);
    const [request] = kms.requests;
    expect(request!.target).to.equal('ReEncrypt');
    expect(request!.body).to.deep.include({ SourceKeyId: a.arn, DestinationKeyId: 'alias/rotating' });
    expect(request!.body!['SourceEncryptionContext']).to.deep.equal({ ...context });
    expect(request!.body!['DestinationEncryptionContext']).to.deep.equal({ ...context });
    expect(request!.rawBody).to.not.include(dataKey.plaintext.toString('base64'));
    kms.deleteKey(a.keyId);
    expect((await provider.unwrap(moved, context)).equals(dataKey.plaintext)).to.equal(true);
  });

  it('wraps an existing data key with Encrypt (moving rows in from the local provider)', async () => {
    kms.createKey({ alias: 'alias/import' });
    const provider = new AwsKmsKeyWrapProvider(client, 'alias/import');
    const plaintext = Buffer.alloc(32, 7);
    const wrapped = await provider.wrap(plaintext, context);
    expect(kms.requestsFor('Encrypt')[0]!.body!['EncryptionContext']).to.deep.equal({ ...context });
    expect((await provider.unwrap(wrapped, context)).equals(plaintext)).to.equal(true);
  });
});
