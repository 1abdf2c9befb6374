/**
 * The `aws-kms` provider: data keys come from KMS GenerateDataKey (AES_256) and are unwrapped with Decrypt,
 * always under the secret's EncryptionContext, so KMS itself refuses a data key read for another purpose or
 * name (and CloudTrail records which secret was opened). Rotation uses ReEncrypt, which moves a wrapped key to
 * the configured key without the data key ever leaving KMS.
 */
import {
  DecryptCommand,
  EncryptCommand,
  GenerateDataKeyCommand,
  KMSClient,
  ReEncryptCommand,
  type KMSClientConfig,
} from '@aws-sdk/client-kms';
import type { EncryptionContext } from './context.js';
import { SecretError, type SecretErrorReason } from './errors.js';
import type { DataKey, KeyWrapProvider, WrappedKey } from './key-wrap.js';
import { Redacted } from './secret-value.js';

export interface KmsClientOptions {
  readonly region: string;
  /** Endpoint override; the SDK's own AWS_ENDPOINT_URL_KMS / AWS_ENDPOINT_URL lookup applies when absent. */
  readonly endpoint?: string | undefined;
  readonly credentials?: KMSClientConfig['credentials'];
  readonly maxAttempts?: number;
  readonly connectionTimeoutMs?: number;
  readonly requestTimeoutMs?: number;
}

export function createKmsClient(options: KmsClientOptions): KMSClient {
  return new KMSClient({
    region: options.region,
    ...(options.endpoint === undefined ? {} : { endpoint: options.endpoint }),
    ...(options.credentials === undefined ? {} : { credentials: options.credentials }),
    maxAttempts: options.maxAttempts ?? 3,
    requestHandler: { connectionTimeout: options.connectionTimeoutMs ?? 2_000, requestTimeout: options.requestTimeoutMs ?? 5_000 },
  });
}

const REASON_BY_EXCEPTION: Readonly<Record<string, SecretErrorReason>> = {
  InvalidCiphertextException: 'undecryptable',
  IncorrectKeyException: 'undecryptable',
  NotFoundException: 'kms_key_not_found',
  DisabledException: 'kms_key_disabled',
  KMSInvalidStateException: 'kms_key_disabled',
  KeyUnavailableException: 'kms_key_disabled',
  AccessDeniedException: 'kms_access_denied',
  ValidationException: 'kms_rejected',
  InvalidKeyUsageException: 'kms_rejected',
  InvalidGrantTokenException: 'kms_rejected',
  DryRunOperationException: 'kms_rejected',
  UnrecognizedClientException: 'kms_access_denied',
  InvalidSignatureException: 'kms_access_denied',
  ExpiredTokenException: 'kms_access_denied',
};

interface SdkErrorShape {
  readonly name?: unknown;
  readonly code?: unknown;
  readonly $metadata?: { readonly httpStatusCode?: number; readonly requestId?: string };
}

/** A KMS failure as a SecretError: reason from the exception name, safe facts only, no cause attached. */
export function kmsFailure(error: unknown, operation: string): SecretError {
  const shape = (typeof error === 'object' && error !== null ? error : {}) as SdkErrorShape;
  const exception = typeof shape.name === 'string' ? shape.name : 'Error';
  const status = shape.$metadata?.httpStatusCode;
  const requestId = shape.$metadata?.requestId;
  // anything without a KMS answer (refused, reset, timed out) or a 5xx/throttle is "try again later"
  const reason = REASON_BY_EXCEPTION[exception] ?? 'kms_unavailable';
  const details: Record<string, string | number> = { operation, exception };
  if (status !== undefined) details['httpStatus'] = status;
  if (requestId !== undefined) details['requestId'] = requestId;
  if (typeof shape.code === 'string') details['errno'] = shape.code;
  const answered = status === undefined ? `could not be completed (${typeof shape.code === 'string' ? shape.code : exception})` : `failed with ${exception} (HTTP ${status}${requestId === undefined ? '' : `, request id ${requestId}`})`;
  return new SecretError(reason, `KMS ${operation} ${answered}`, details);
}

/** A Buffer over the SDK's own array, so zeroing it zeroes the only copy. */
function bytesOf(value: Uint8Array | undefined, operation: string, member: string): Buffer {
  if (value === undefined || value.length === 0) throw new SecretError('kms_rejected', `KMS ${operation} answered without ${member}`);
  return Buffer.from(value.buffer, value.byteOffset, value.byteLength);
}

function keyIdOf(value: string | undefined, operation: string): string {
  if (value === undefined || value === '') throw new SecretError('kms_rejected', `KMS ${operation} answered without KeyId`);
  return value;
}

export class AwsKmsKeyWrapProvider extends Redacted implements KeyWrapProvider {
  readonly name = 'aws-kms' as const;

  constructor(
    readonly client: KMSClient,
    /** Key id, key ARN, alias/name or alias ARN that wraps new data keys. */
    readonly keyId: string,
  ) {
    super();
  }

  async #send<T>(operation: string, call: () => Promise<T>): Promise<T> {
    try {
      return await call();
    } catch (error) {
      throw kmsFailure(error, operation);
    }
  }

  async generateDataKey(context: EncryptionContext): Promise<DataKey> {
    const out = await this.#send('GenerateDataKey', () =>
      this.client.send(new GenerateDataKeyCommand({ KeyId: this.keyId, KeySpec: 'AES_256', EncryptionContext: { ...context } })),
    );
    try {
      const keyId = keyIdOf(out.KeyId, 'GenerateDataKey');
      const wrapped = Buffer.from(bytesOf(out.CiphertextBlob, 'GenerateDataKey', 'CiphertextBlob'));
      return { keyId, wrapped, plaintext: bytesOf(out.Plaintext, 'GenerateDataKey', 'Plaintext') };
    } catch (error) {
      out.Plaintext?.fill(0);
      throw error;
    }
  }

  async unwrap(key: WrappedKey, context: EncryptionContext): Promise<Buffer> {
    const out = await this.#send('Decrypt', () =>
      this.client.send(new DecryptCommand({ CiphertextBlob: key.wrapped, KeyId: key.keyId, EncryptionContext: { ...context } })),
    );
    return bytesOf(out.Plaintext, 'Decrypt', 'Plaintext');
  }

  async wrap(plaintext: Buffer, context: EncryptionContext): Promise<WrappedKey> {
    const out = await this.#send('Encrypt', () =>
      this.client.send(new EncryptCommand({ KeyId: this.keyId, Plaintext: plaintext, EncryptionContext: { ...context } })),
    );
    return { keyId: keyIdOf(out.KeyId, 'Encrypt'), wrapped: Buffer.from(bytesOf(out.CiphertextBlob, 'Encrypt', 'CiphertextBlob')) };
  }

  /** Always ReEncrypt: the configured id may be an alias that now points elsewhere, and only KMS knows. */
  async rewrap(key: WrappedKey, context: EncryptionContext): Promise<WrappedKey> {
    const out = await this.#send('ReEncrypt', () =>
      this.client.send(
        new ReEncryptCommand({
          CiphertextBlob: key.wrapped,
          SourceKeyId: key.keyId,
          SourceEncryptionContext: { ...context },
          DestinationKeyId: this.keyId,
          DestinationEncryptionContext: { ...context },
        }),
      ),
    );
    return { keyId: keyIdOf(out.KeyId, 'ReEncrypt'), wrapped: Buffer.from(bytesOf(out.CiphertextBlob, 'ReEncrypt', 'CiphertextBlob')) };
  }
}
