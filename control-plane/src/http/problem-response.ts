/** Writing RFC 9457 problem+json responses, and turning anything thrown into one. */
import type { Response } from 'express';
import type { Logger } from 'pino';
import { PROBLEM_CONTENT_TYPE, problem, type ErrorCode } from '../../../authz-service/src/core/errors.js';
import { ProblemError } from '../problem-error.js';
import { isForeignKeyViolation, isUniqueViolation } from '../store/rows.js';

export function sendProblem(res: Response, error: ProblemError, requestId: string): void {
  if (res.headersSent) return;
  for (const [name, value] of error.headers) res.setHeader(name, value);
  const body = problem(error.code, error.detail, requestId, error.errors ? { errors: error.errors } : undefined);
  res.status(body.status).type(PROBLEM_CONTENT_TYPE).send(JSON.stringify(body));
}

interface BodyParserError {
  readonly type: string;
}

function isBodyParserError(error: unknown): error is BodyParserError {
  return typeof error === 'object' && error !== null && 'type' in error && typeof error.type === 'string' && 'expose' in error;
}

const BODY_ERRORS: Record<string, [ErrorCode, string]> = {
  'entity.too.large': ['payload_too_large', 'the request body is larger than this endpoint accepts'],
  'entity.parse.failed': ['validation_failed', 'the request body is not valid JSON'],
  'entity.verify.failed': ['validation_failed', 'the request body could not be read'],
  'encoding.unsupported': ['unsupported_media_type', 'unsupported content encoding'],
  'charset.unsupported': ['unsupported_media_type', 'the request body must be UTF-8 JSON'],
  'request.size.invalid': ['invalid_request', 'the request body length does not match Content-Length'],
  'request.aborted': ['invalid_request', 'the request was aborted'],
};

/** Postgres connection-level failures: the database is down or unreachable, not our bug. */
function isDatabaseUnavailable(error: unknown): boolean {
  const code = typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : '';
  // class 08: connection exceptions; 57P: operator intervention (shutdown); 55000: not accepting connections
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', '55000', '3D000', '53300'].includes(code) ||
    code.startsWith('08') ||
    code.startsWith('57P') ||
    (error instanceof Error && error.name === 'KnexTimeoutError')
  );
}

/** Every thrown thing becomes a problem; unexpected ones are logged with the request id, never sent. */
export function toProblem(error: unknown, logger: Logger, requestId: string): ProblemError {
  if (error instanceof ProblemError) return error;
  if (isBodyParserError(error)) {
    const known = BODY_ERRORS[error.type];
    if (known) return new ProblemError(known[0], known[1]);
  }
  if (isUniqueViolation(error)) return new ProblemError('conflict', 'a resource with the same unique name, identity or subject already exists');
  if (isForeignKeyViolation(error)) return new ProblemError('conflict', 'the resource is still referenced by others (or references one that does not exist)');
  if (isDatabaseUnavailable(error)) {
    logger.error({ err: error, requestId }, 'database unavailable');
    return new ProblemError('dependency_unavailable', 'the database is unavailable; try again shortly');
  }
  logger.error({ err: error, requestId }, 'unhandled error');
  return new ProblemError('internal_error', 'an internal error occurred; quote the request id when reporting it');
}
