/**
 * Why a secret operation failed, as a stable reason plus the catalog code an API answers with. Messages name
 * secrets, purposes, key ids and KMS request ids, never a plaintext, a data key or a master key, and no
 * underlying error is attached as `cause` (an SDK error could carry request details into a log).
 */
import type { ErrorCode } from '../../../authz-service/src/core/errors.js';

export const SECRET_ERROR_CODES = {
  /** The name or purpose is malformed, or the value is empty or too large. */
  invalid_input: 'validation_failed',
  /** No secret of that name. */
  not_found: 'not_found',
  /** Authentication failed: tampered row, wrong purpose or name, or a data key wrapped under another context. */
  undecryptable: 'internal_error',
  /** The row was wrapped by a provider or master key this process is not configured with. */
  key_unavailable: 'internal_error',
  /** KMS does not know the key (or alias). */
  kms_key_not_found: 'upstream_provider_error',
  /** The KMS key is disabled, pending deletion or otherwise unusable. */
  kms_key_disabled: 'upstream_provider_error',
  /** KMS refused the caller (IAM or key policy). */
  kms_access_denied: 'upstream_provider_error',
  /** KMS rejected the request for another reason (validation, key usage). */
  kms_rejected: 'upstream_provider_error',
  /** KMS could not be reached, timed out, throttled or failed internally: worth retrying later. */
  kms_unavailable: 'dependency_unavailable',
} as const satisfies Record<string, ErrorCode>;

export type SecretErrorReason = keyof typeof SECRET_ERROR_CODES;

export class SecretError extends Error {
  override readonly name = 'SecretError';
  /** Catalog code for problem+json answers. */
  readonly code: ErrorCode;

  constructor(
    readonly reason: SecretErrorReason,
    message: string,
    /** Extra safe facts for logs: KMS exception name, HTTP status, request id. */
    readonly details: Readonly<Record<string, string | number>> = {},
  ) {
    super(message);
    this.code = SECRET_ERROR_CODES[reason];
  }
}

export function isSecretError(error: unknown, reason?: SecretErrorReason): error is SecretError {
  return error instanceof SecretError && (reason === undefined || error.reason === reason);
}
