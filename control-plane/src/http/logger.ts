/** The control plane's pino logger, with every place a credential could appear redacted. */
import { pino, type Logger } from 'pino';
import type { LogLevel } from '../config.js';

export const REDACTED_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  'headers["x-api-key"]',
  '*.authorization',
  '*.key',
  '*.secret',
  '*.pepper',
  '*.password',
  '*.token',
  // database errors carry the statement's bind values
  'err.params',
  'key',
  'secret',
  'pepper',
  'password',
  'token',
];

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  const options = { level, name: 'portcullis-control-plane', redact: { paths: REDACTED_PATHS, censor: '[redacted]' } };
  return destination ? pino(options, destination) : pino(options);
}
