/**
 * AWS KMS test double: a real HTTP server speaking the JSON 1.1 protocol the way KMS does (shared/notes
 * 3scale-keycloak-kms.md §3), so the real `@aws-sdk/client-kms` client is exercised end to end.
 *
 * - Every call is `POST /` with `Content-Type: application/x-amz-json-1.1` and `X-Amz-Target: TrentService.<Op>`;
 *   blobs are base64 strings; responses carry `x-amzn-requestid`.
 * - Keys are addressed by id, key ARN, `alias/x` or alias ARN. Ciphertext blobs are moto-shaped
 *   (`key id (36) | iv (12) | tag (16) | ct`), sealed with real AES-256-GCM under a per-key backing key with the
 *   EncryptionContext as AAD, so a wrong context fails exactly as on KMS: InvalidCiphertextException.
 * - Errors are HTTP 400 (500 for KMSInternalException) `{"__type": …, "message": …}`.
 * - Every request is recorded (headers and raw body) so tests can assert what the SDK really sent.
 * SigV4 is not verified (the notes say doubles need not), but a request without an Authorization header is refused.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export const KMS_CONTENT_TYPE = 'application/x-amz-json-1.1';
const UUID_LENGTH = 36;
const IV_LENGTH = 12;
const TAG_LENGTH = 16;
const MAX_BODY_BYTES = 1024 * 1024;

export type KmsOperation = 'GenerateDataKey' | 'GenerateDataKeyWithoutPlaintext' | 'Decrypt' | 'Encrypt' | 'ReEncrypt';

export interface RecordedKmsRequest {
  readonly method: string;
  readonly path: string;
  /** The operation named by X-Amz-Target (without the `TrentService.` prefix), or the raw header if malformed. */
  readonly target: string;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  /** The body exactly as received. */
  readonly rawBody: string;
  /** The parsed JSON body, or undefined when it did not parse. */
  readonly body: Record<string, unknown> | undefined;
}

export interface KmsKey {
  readonly keyId: string;
  readonly arn: string;
}

interface KeyRecord extends KmsKey {
  readonly material: Buffer;
  enabled: boolean;
}

class KmsFault extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly status = 400,
  ) {
    super(message);
  }
}

type Body = Record<string, unknown>;

/** Options for a real KMSClient aimed at a double: its endpoint and region, fake credentials, no retries. */
export function kmsClientOptions(kms: { readonly region: string; readonly endpoint: string }) {
  return {
    region: kms.region,
    endpoint: kms.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
  };
}

export class KmsDouble {
  readonly requests: RecordedKmsRequest[] = [];
  readonly #keys = new Map<string, KeyRecord>();
  readonly #aliases = new Map<string, string>();
  readonly #pendingFaults: Array<{ readonly target: string | undefined; readonly fault: KmsFault }> = [];
  readonly #server: Server;
  #port = 0;

  private constructor(
    readonly region: string,
    readonly accountId: string,
  ) {
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  static async start(options: { region?: string; accountId?: string } = {}): Promise<KmsDouble> {
    const kms = new KmsDouble(options.region ?? 'us-east-1', options.accountId ?? '111122223333');
    await new Promise<void>((resolve, reject) => {
      kms.#server.once('error', reject);
      kms.#server.listen(0, '127.0.0.1', () => resolve());
    });
    kms.#port = (kms.#server.address() as AddressInfo).port;
    return kms;
  }

  get port(): number {
    return this.#port;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.#port}`;
  }

  /** Stop listening and cut open keep-alive connections: what an unreachable KMS looks like to the SDK. */
  async stop(): Promise<void> {
    if (!this.#server.listening) return;
    const closed = new Promise<void>((resolve) => this.#server.close(() => resolve()));
    this.#server.closeAllConnections();
    await closed;
  }

  createKey(options: { alias?: string } = {}): KmsKey {
    const keyId = randomUUID();
    const record: KeyRecord = { keyId, arn: this.#keyArn(keyId), material: randomBytes(32), enabled: true };
    this.#keys.set(keyId, record);
    if (options.alias !== undefined) this.createAlias(options.alias, keyId);
    return { keyId: record.keyId, arn: record.arn };
  }

  /** Point `alias/<name>` at a key (creating or moving the alias, as UpdateAlias would). */
  createAlias(alias: string, keyId: string): void {
    if (!alias.startsWith('alias/')) throw new RangeError('aliases start with alias/');
    if (!this.#keys.has(keyId)) throw new RangeError(`no key ${keyId}`);
    this.#aliases.set(alias, keyId);
  }

  setKeyEnabled(keyId: string, enabled: boolean): void {
    this.#recordById(keyId).enabled = enabled;
  }

  /** Forget a key entirely: its ciphertexts can no longer be decrypted. */
  deleteKey(keyId: string): void {
    this.#keys.delete(keyId);
    for (const [alias, target] of this.#aliases) if (target === keyId) this.#aliases.delete(alias);
  }

  /** Make the next request (for `target`, or any) fail with this KMS error. */
  failNext(type: string, options: { target?: KmsOperation; status?: number; message?: string } = {}): void {
    this.#pendingFaults.push({ target: options.target, fault: new KmsFault(type, options.message ?? `injected ${type}`, options.status ?? 400) });
  }

  requestsFor(target: KmsOperation): RecordedKmsRequest[] {
    return this.requests.filter((r) => r.target === target);
  }

  clearRequests(): void {
    this.requests.length = 0;
  }

  #keyArn(keyId: string): string {
    return `arn:aws:kms:${this.region}:${this.accountId}:key/${keyId}`;
  }

  #recordById(keyId: string): KeyRecord {
    const record = this.#keys.get(keyId);
    if (!record) throw new RangeError(`no key ${keyId}`);
    return record;
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomUUID();
    let rawBody = '';
    try {
      rawBody = await readBody(req);
    } catch {
      return send(res, requestId, 413, { __type: 'ValidationException', message: 'request body too large' });
    }
    const targetHeader = header(req, 'x-amz-target') ?? '';
    const target = targetHeader.startsWith('TrentService.') ? targetHeader.slice('TrentService.'.length) : targetHeader;
    let body: Body | undefined;
    try {
      const parsed: unknown = JSON.parse(rawBody === '' ? '{}' : rawBody);
      body = isObject(parsed) ? parsed : undefined;
    } catch {
      body = undefined;
    }
    this.requests.push({ method: req.method ?? '', path: req.url ?? '', target, headers: { ...req.headers }, rawBody, body });
    try {
      const result = this.#dispatch(req, target, body);
      send(res, requestId, 200, result);
    } catch (error) {
      const fault = error instanceof KmsFault ? error : new KmsFault('KMSInternalException', 'internal error', 500);
      send(res, requestId, fault.status, { __type: fault.type, message: fault.message });
    }
  }

  #dispatch(req: IncomingMessage, target: string, body: Body | undefined): Body {
    if (req.method !== 'POST' || (req.url ?? '') !== '/') throw new KmsFault('UnknownOperationException', 'only POST / is served');
    if (header(req, 'authorization') === undefined) throw new KmsFault('MissingAuthenticationTokenException', 'Missing Authentication Token');
    const contentType = header(req, 'content-type') ?? '';
    if (contentType.split(';')[0]!.trim().toLowerCase() !== KMS_CONTENT_TYPE) {
      throw new KmsFault('UnknownOperationException', `unsupported content type ${contentType}`);
    }
    const faultAt = this.#pendingFaults.findIndex((f) => f.target === undefined || f.target === target);
    if (faultAt >= 0) throw this.#pendingFaults.splice(faultAt, 1)[0]!.fault;
    if (body === undefined) throw new KmsFault('SerializationException', 'the request body is not a JSON object');
    switch (target) {
      case 'GenerateDataKey':
        return this.#generateDataKey(body, true);
      case 'GenerateDataKeyWithoutPlaintext':
        return this.#generateDataKey(body, false);
      case 'Encrypt':
        return this.#encrypt(body);
      case 'Decrypt':
        return this.#decrypt(body);
      case 'ReEncrypt':
        return this.#reEncrypt(body);
      default:
        throw new KmsFault('UnknownOperationException', `unknown operation ${target}`);
    }
  }

  #generateDataKey(body: Body, withPlaintext: boolean): Body {
    const key = this.#usableKey(requiredString(body, 'KeyId'));
    const context = encryptionContext(body, 'EncryptionContext');
    const keySpec = optionalString(body, 'KeySpec');
    const numberOfBytes = body['NumberOfBytes'];
    if (keySpec !== undefined && numberOfBytes !== undefined) {
      throw new KmsFault('ValidationException', 'Please specify either number of bytes or key spec.');
    }
    let length: number;
    if (keySpec !== undefined) {
      if (keySpec !== 'AES_256' && keySpec !== 'AES_128') {
        throw new KmsFault('ValidationException', `1 validation error detected: Value '${keySpec}' at 'keySpec' failed to satisfy constraint: Member must satisfy enum value set: [AES_256, AES_128]`);
      }
      length = keySpec === 'AES_256' ? 32 : 16;
    } else if (numberOfBytes !== undefined) {
      if (typeof numberOfBytes !== 'number' || !Number.isInteger(numberOfBytes) || numberOfBytes < 1 || numberOfBytes > 1024) {
        throw new KmsFault('ValidationException', '1 validation error detected: Value at \'numberOfBytes\' failed to satisfy constraint: Member must have value between 1 and 1024');
      }
      length = numberOfBytes;
    } else {
      throw new KmsFault('ValidationException', 'Please specify either number of bytes or key spec.');
    }
    const plaintext = randomBytes(length);
    const response: Body = { KeyId: key.arn, CiphertextBlob: seal(key, plaintext, context).toString('base64') };
    if (withPlaintext) response['Plaintext'] = plaintext.toString('base64');
    return response;
  }

  #encrypt(body: Body): Body {
    const key = this.#usableKey(requiredString(body, 'KeyId'));
    const plaintext = requiredBlob(body, 'Plaintext');
    if (plaintext.length < 1 || plaintext.length > 4096) {
      throw new KmsFault('ValidationException', '1 validation error detected: Value at \'plaintext\' failed to satisfy constraint: Member must have length between 1 and 4096');
    }
    const context = encryptionContext(body, 'EncryptionContext');
    return { KeyId: key.arn, CiphertextBlob: seal(key, plaintext, context).toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  #decrypt(body: Body): Body {
    const { key, plaintext } = this.#open(requiredBlob(body, 'CiphertextBlob'), encryptionContext(body, 'EncryptionContext'), optionalString(body, 'KeyId'));
    return { KeyId: key.arn, Plaintext: plaintext.toString('base64'), EncryptionAlgorithm: 'SYMMETRIC_DEFAULT' };
  }

  #reEncrypt(body: Body): Body {
    const destination = this.#usableKey(requiredString(body, 'DestinationKeyId'));
    const { key: source, plaintext } = this.#open(
      requiredBlob(body, 'CiphertextBlob'),
      encryptionContext(body, 'SourceEncryptionContext'),
      optionalString(body, 'SourceKeyId'),
    );
    const blob = seal(destination, plaintext, encryptionContext(body, 'DestinationEncryptionContext'));
    plaintext.fill(0);
    return {
      CiphertextBlob: blob.toString('base64'),
      SourceKeyId: source.arn,
      KeyId: destination.arn,
      SourceEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
      DestinationEncryptionAlgorithm: 'SYMMETRIC_DEFAULT',
    };
  }

  #open(blob: Buffer, context: Readonly<Record<string, string>>, expectedKeyId: string | undefined): { key: KeyRecord; plaintext: Buffer } {
    if (blob.length < UUID_LENGTH + IV_LENGTH + TAG_LENGTH + 1) throw new KmsFault('InvalidCiphertextException', '');
    const keyId = blob.subarray(0, UUID_LENGTH).toString('latin1');
    const key = this.#keys.get(keyId);
    if (!key) throw new KmsFault('NotFoundException', `Key '${this.#keyArn(keyId)}' does not exist`);
    if (expectedKeyId !== undefined && this.#resolve(expectedKeyId).keyId !== key.keyId) {
      throw new KmsFault('IncorrectKeyException', 'The key ID in the request does not identify a CMK that can perform this operation.');
    }
    if (!key.enabled) throw new KmsFault('DisabledException', `${key.arn} is disabled.`);
    const iv = blob.subarray(UUID_LENGTH, UUID_LENGTH + IV_LENGTH);
    const tag = blob.subarray(UUID_LENGTH + IV_LENGTH, UUID_LENGTH + IV_LENGTH + TAG_LENGTH);
    const ct = blob.subarray(UUID_LENGTH + IV_LENGTH + TAG_LENGTH);
    try {
      const decipher = createDecipheriv('aes-256-gcm', key.material, iv);
      decipher.setAAD(contextAad(context));
      decipher.setAuthTag(tag);
      return { key, plaintext: Buffer.concat([decipher.update(ct), decipher.final()]) };
    } catch {
      // KMS says nothing more than this, whatever was wrong (blob, tag or context)
      throw new KmsFault('InvalidCiphertextException', '');
    }
  }

  #resolve(reference: string): KeyRecord {
    const aliasName = reference.startsWith('alias/') ? reference : /^arn:aws:kms:[^:]+:[^:]+:(alias\/.+)$/.exec(reference)?.[1];
    if (aliasName !== undefined) {
      const target = this.#aliases.get(aliasName);
      const record = target === undefined ? undefined : this.#keys.get(target);
      if (!record) throw new KmsFault('NotFoundException', `Alias arn:aws:kms:${this.region}:${this.accountId}:${aliasName} is not found.`);
      return record;
    }
    const keyId = /^arn:aws:kms:[^:]+:[^:]+:key\/(.+)$/.exec(reference)?.[1] ?? reference;
    const record = this.#keys.get(keyId);
    if (!record) throw new KmsFault('NotFoundException', `Key '${this.#keyArn(keyId)}' does not exist`);
    return record;
  }

  #usableKey(reference: string): KeyRecord {
    const record = this.#resolve(reference);
    if (!record.enabled) throw new KmsFault('DisabledException', `${record.arn} is disabled.`);
    return record;
  }
}

function seal(key: KeyRecord, plaintext: Buffer, context: Readonly<Record<string, string>>): Buffer {
  const iv = randomBytes(IV_LENGTH);
  const cipher = createCipheriv('aes-256-gcm', key.material, iv);
  cipher.setAAD(contextAad(context));
  const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return Buffer.concat([Buffer.from(key.keyId, 'latin1'), iv, cipher.getAuthTag(), ct]);
}

/** moto's serialisation: key/value pairs sorted by key, concatenated. */
function contextAad(context: Readonly<Record<string, string>>): Buffer {
  return Buffer.from(
    Object.keys(context)
      .sort()
      .map((k) => k + context[k])
      .join(''),
    'utf8',
  );
}

function isObject(value: unknown): value is Body {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function missing(member: string): KmsFault {
  const camel = member[0]!.toLowerCase() + member.slice(1);
  return new KmsFault('ValidationException', `1 validation error detected: Value null at '${camel}' failed to satisfy constraint: Member must not be null`);
}

function requiredString(body: Body, member: string): string {
  const value = optionalString(body, member);
  if (value === undefined || value === '') throw missing(member);
  return value;
}

function optionalString(body: Body, member: string): string | undefined {
  const value = body[member];
  if (value === undefined) return undefined;
  if (typeof value !== 'string') throw new KmsFault('SerializationException', `${member} must be a string`);
  return value;
}

function requiredBlob(body: Body, member: string): Buffer {
  const value = requiredString(body, member);
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(value) || value.length % 4 !== 0) throw new KmsFault('SerializationException', `${member} is not valid base64`);
  return Buffer.from(value, 'base64');
}

function encryptionContext(body: Body, member: string): Readonly<Record<string, string>> {
  const value = body[member];
  if (value === undefined) return {};
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'string')) {
    throw new KmsFault('SerializationException', `${member} must be a map of strings`);
  }
  return value as Record<string, string>;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new RangeError('body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, requestId: string, status: number, body: Body): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': KMS_CONTENT_TYPE,
    'content-length': Buffer.byteLength(text),
    'x-amzn-requestid': requestId,
  });
  res.end(text);
}
