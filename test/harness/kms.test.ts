import { expect } from 'chai';
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  NotFoundException,
  ReEncryptCommand,
} from '@aws-sdk/client-kms';
import { KMS_CONTENT_TYPE, KmsDouble, kmsClientOptions } from './kms.js';

function clientFor(kms: KmsDouble): KMSClient {
  return new KMSClient(kmsClientOptions(kms));
}

async function rejection(promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number; requestId?: string } }> {
  try {
    await promise;
  } catch (error) {
    return error as Error;
  }
  throw new Error('expected a rejection');
}

describe('KMS double (JSON 1.1 wire protocol, driven by the real SDK)', () => {
  let kms: KmsDouble;
  let client: KMSClient;

  before(async () => {
    kms = await KmsDouble.start();
    client = clientFor(kms);
  });
  after(async () => {
    client.destroy();
    await kms.stop();
  });
  beforeEach(() => kms.clearRequests());

  it('receives what the SDK sends: POST /, JSON 1.1 content type, TrentService target, SigV4 scope', async () => {
    const key = kms.createKey({ alias: 'alias/wire' });
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: 'alias/wire', KeySpec: 'AES_256', EncryptionContext: { a: '1' } }));
    expect(out.KeyId).to.equal(key.arn);
    expect(out.Plaintext).to.have.length(32);
    const [request] = kms.requestsFor('GenerateDataKey');
    expect(request).to.not.equal(undefined);
    expect(request!.method).to.equal('POST');
    expect(request!.path).to.equal('/');
    expect(request!.headers['content-type']).to.equal(KMS_CONTENT_TYPE);
    expect(request!.headers['x-amz-target']).to.equal('TrentService.GenerateDataKey');
    expect(String(request!.headers['authorization'])).to.match(/^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/kms\/aws4_request/);
    expect(request!.body).to.deep.equal({ KeyId: 'alias/wire', KeySpec: 'AES_256', EncryptionContext: { a: '1' } });
    expect(out.$metadata.requestId).to.match(/^[0-9a-f-]{36}$/);
  });

  it('decrypts a data key only under the same encryption context', async () => {
    const key = kms.createKey();
    const out = await client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', EncryptionContext: { p: 'x' } }));
    const back = await client.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: { p: 'x' } }));
    expect(Buffer.from(back.Plaintext!).equals(Buffer.from(out.Plaintext!))).to.equal(true);
    expect(back.KeyId).to.equal(key.arn);
    const wrong = await rejection(client.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob, EncryptionContext: { p: 'y' } })));
    expect(wrong.name).to.equal('InvalidCiphertextException');
    expect(wrong.$metadata?.httpStatusCode).to.equal(400);
    const none = await rejection(client.send(new DecryptCommand({ CiphertextBlob: out.CiphertextBlob })));
    expect(none.name).to.equal('InvalidCiphertextException');
  });

  it('resolves key ARNs and alias ARNs, and refuses a Decrypt naming another key', async () => {
    const a = kms.createKey({ alias: 'alias/a' });
    const b = kms.createKey();
    const enc = await client.send(new EncryptCommand({ KeyId: `arn:aws:kms:us-east-1:111122223333:alias/a`, Plaintext: Buffer.from('hi') }));
    expect(enc.KeyId).to.equal(a.arn);
    const ok = await client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: a.arn }));
    expect(Buffer.from(ok.Plaintext!).toString()).to.equal('hi');
    const wrongKey = await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob, KeyId: b.keyId })));
    expect(wrongKey.name).to.equal('IncorrectKeyException');
  });

  it('re-encrypts under another key and context without returning plaintext', async () => {
    const a = kms.createKey();
    const b = kms.createKey();
    const enc = await client.send(new EncryptCommand({ KeyId: a.keyId, Plaintext: Buffer.from('data'), EncryptionContext: { c: '1' } }));
    const re = await client.send(
      new ReEncryptCommand({ CiphertextBlob: enc.CiphertextBlob, SourceEncryptionContext: { c: '1' }, DestinationKeyId: b.arn, DestinationEncryptionContext: { c: '2' } }),
    );
    expect(re.KeyId).to.equal(b.arn);
    expect(re.SourceKeyId).to.equal(a.arn);
    expect(kms.requestsFor('ReEncrypt')[0]!.rawBody).to.not.include('Plaintext');
    kms.deleteKey(a.keyId);
    const back = await client.send(new DecryptCommand({ CiphertextBlob: re.CiphertextBlob, EncryptionContext: { c: '2' } }));
    expect(Buffer.from(back.Plaintext!).toString()).to.equal('data');
  });

  it('answers unknown keys with NotFoundException and disabled keys with DisabledException', async () => {
    const missing = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: 'alias/nope', KeySpec: 'AES_256' })));
    expect(missing).to.be.instanceOf(NotFoundException);
    expect(missing.message).to.include('alias/nope');
    const key = kms.createKey();
    const enc = await client.send(new EncryptCommand({ KeyId: key.keyId, Plaintext: Buffer.from('x') }));
    kms.setKeyEnabled(key.keyId, false);
    expect((await rejection(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' })))).name).to.equal('DisabledException');
    expect((await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).name).to.equal('DisabledException');
    kms.setKeyEnabled(key.keyId, true);
    kms.deleteKey(key.keyId);
    expect((await rejection(client.send(new DecryptCommand({ CiphertextBlob: enc.CiphertextBlob })))).name).to.equal('NotFoundException');
  });

  it('rejects bad input with ValidationException or InvalidCiphertextException', async () => {
    const key = kms.createKey();
    const noSpec = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId })));
    expect(noSpec.name).to.equal('ValidationException');
    const both = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256', NumberOfBytes: 32 })));
    expect(both.name).to.equal('ValidationException');
    const garbage = await rejection(client.send(new DecryptCommand({ CiphertextBlob: Buffer.from('too short') })));
    expect(garbage.name).to.equal('InvalidCiphertextException');
  });

  it('speaks the error shape on the wire: 400, __type, message, x-amzn-requestid', async () => {
    const response = await fetch(kms.endpoint + '/', {
      method: 'POST',
      headers: { 'content-type': KMS_CONTENT_TYPE, 'x-amz-target': 'TrentService.Decrypt', authorization: 'AWS4-HMAC-SHA256 x' },
      body: JSON.stringify({ CiphertextBlob: Buffer.alloc(80).toString('base64') }),
    });
    expect(response.status).to.equal(400);
    expect(response.headers.get('x-amzn-requestid')).to.match(/^[0-9a-f-]{36}$/);
    expect(response.headers.get('content-type')).to.equal(KMS_CONTENT_TYPE);
    const body = (await response.json()) as Record<string, unknown>;
    expect(body['__type']).to.equal('NotFoundException');
    expect(body['message']).to.be.a('string');
    const unknown = await fetch(kms.endpoint + '/', {
      method: 'POST',
      headers: { 'content-type': KMS_CONTENT_TYPE, 'x-amz-target': 'TrentService.CreateKey', authorization: 'AWS4-HMAC-SHA256 x' },
      body: '{}',
    });
    expect(((await unknown.json()) as Record<string, unknown>)['__type']).to.equal('UnknownOperationException');
    const unsigned = await fetch(kms.endpoint + '/', { method: 'POST', headers: { 'content-type': KMS_CONTENT_TYPE, 'x-amz-target': 'TrentService.Decrypt' }, body: '{}' });
    expect(unsigned.status).to.equal(400);
  });

  it('injects faults the SDK surfaces by name and status', async () => {
    const key = kms.createKey();
    kms.failNext('KMSInternalException', { target: 'GenerateDataKey', status: 500 });
    const fault = await rejection(client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' })));
    expect(fault.name).to.equal('KMSInternalException');
    expect(fault.$metadata?.httpStatusCode).to.equal(500);
    const ok = await client.send(new GenerateDataKeyCommand({ KeyId: key.keyId, KeySpec: 'AES_256' }));
    expect(ok.Plaintext).to.have.length(32);
  });
});
