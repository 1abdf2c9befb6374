/**
 * A control-plane request that cannot succeed, as a value carried by an exception: thrown inside a
 * transaction it rolls the transaction back, and the HTTP layer turns it into problem+json. The data
 * plane never throws these; its denials are plain values.
 */
import type { HeaderPair } from '../../authz-service/src/core/decision.js';
import { ERROR_CATALOG, type ErrorCode } from '../../authz-service/src/core/errors.js';

export interface FieldError {
  /** Dotted path into the request, e.g. `body.services[0]`. */
  readonly path: string;
  readonly message: string;
}

export class ProblemError extends Error {
  constructor(
    readonly code: ErrorCode,
    readonly detail: string,
    readonly errors?: readonly FieldError[],
    /** Response headers that belong to this problem (WWW-Authenticate). */
    readonly headers: readonly HeaderPair[] = [],
  ) {
    super(detail);
    this.name = 'ProblemError';
  }

  get status(): number {
    return ERROR_CATALOG[this.code].status;
  }
}

export const notFound = (what: string): ProblemError => new ProblemError('not_found', `${what} was not found`);
export const conflict = (detail: string, errors?: readonly FieldError[]): ProblemError => new ProblemError('conflict', detail, errors);
export const invalid = (path: string, message: string): ProblemError =>
  new ProblemError('validation_failed', `${path}: ${message}`, [{ path, message }]);
