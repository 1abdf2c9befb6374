/**
 * Structured JSON logs (pino). Decision lines are written by decision-observer.ts; this file only makes the
 * logger, with redaction as a second line of defence: nothing in the service logs headers or queries on
 * purpose, and if someone ever does, credentials still come out as "[redacted]".
 */
import { pino, type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

export type { Logger };

const CREDENTIAL_HEADERS = ['authorization', 'x-api-key', 'cookie', 'proxy-authorization', 'set-cookie'];

/** Paths where a credential could sit if an object with headers or a query were logged. */
export const REDACT_PATHS: readonly string[] = [
  ...CREDENTIAL_HEADERS.flatMap((h) => [`headers["${h}"]`, `req.headers["${h}"]`, `request.headers["${h}"]`]),
  // query strings can carry a key (`?user_key=`): log paths, never queries
  'query',
  'req.query',
  'request.query',
  'key',
  'apiKey',
  'token',
  'pepper',
];

export interface LoggerOptions {
  readonly level: LogLevel;
  /** Tests pass a stream to read lines back; production writes to stdout asynchronously. */
  readonly destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions): Logger {
  // asynchronous stdout: a deny storm (429s under load) must not block the event loop on write(2)
  const destination = options.destination ?? pino.destination({ dest: 1, sync: false });
  return pino(
    {
      level: options.level,
      base: { service: 'portcullis-authz' },
      redact: { paths: [...REDACT_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}
