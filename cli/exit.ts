/**
 * Exit codes scripts can branch on (documented in cli/README.md), and the one error type that carries
 * them. A CliError's message is written to stderr as-is, so it must name what went wrong in words a user
 * can act on, and never contain a credential.
 */
export const ExitCode = {
  Ok: 0,
  /** Bad flags or arguments, unreadable input files, invalid local configuration. */
  Usage: 1,
  /** Not logged in, the session expired, the credential was rejected or lacks the right. */
  Auth: 2,
  NotFound: 3,
  /** The server refused the request (validation, conflict) or failed. */
  Server: 4,
  /** The control plane or the identity provider could not be reached. */
  Unreachable: 5,
} as const;
export type ExitCode = (typeof ExitCode)[keyof typeof ExitCode];

export class CliError extends Error {
  constructor(
    readonly exitCode: ExitCode,
    message: string,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export const usageError = (message: string): CliError => new CliError(ExitCode.Usage, message);
export const authError = (message: string): CliError => new CliError(ExitCode.Auth, message);
