/**
 * The device authorization grant from the CLI's side (RFC 8628 §3.4–3.5): show the user where to sign in,
 * then poll the token endpoint at the announced interval, five seconds slower after every `slow_down`,
 * backing off on network failures, until the provider answers with tokens or a final error.
 */
import { authError, CliError, ExitCode } from '../exit.js';
import { DEVICE_CODE_GRANT_TYPE, type DeviceAuthorization, type OidcClient, type TokenResponse } from './oidc-client.js';

/** RFC 8628 §3.2: the interval when the provider announces none. */
export const DEFAULT_POLL_INTERVAL_SECONDS = 5;
/** RFC 8628 §3.5: what every slow_down adds. */
export const SLOW_DOWN_SECONDS = 5;
/** Consecutive unreachable polls before giving up (the interval doubles after each). */
export const MAX_NETWORK_FAILURES = 3;

export interface PollHooks {
  sleep(ms: number): Promise<void>;
  /** Epoch milliseconds. */
  now(): number;
  /** The provider asked us to slow down; the new interval in seconds. */
  onSlowDown?(intervalSeconds: number): void;
}

export async function pollForTokens(client: OidcClient, authorization: DeviceAuthorization, hooks: PollHooks): Promise<TokenResponse> {
  let intervalSeconds = authorization.interval ?? DEFAULT_POLL_INTERVAL_SECONDS;
  const deadline = hooks.now() + authorization.expires_in * 1000;
  let networkFailures = 0;
  for (;;) {
    await hooks.sleep(intervalSeconds * 1000);
    if (hooks.now() >= deadline) throw expired();
    let outcome;
    try {
      outcome = await client.token({ grant_type: DEVICE_CODE_GRANT_TYPE, device_code: authorization.device_code });
      networkFailures = 0;
    } catch (error) {
      if (error instanceof CliError && error.exitCode === ExitCode.Unreachable && ++networkFailures < MAX_NETWORK_FAILURES) {
        intervalSeconds *= 2;
        continue;
      }
      throw error;
    }
    if (outcome.ok) return outcome.tokens;
    switch (outcome.error) {
      case 'authorization_pending':
        continue;
      case 'slow_down':
        intervalSeconds += SLOW_DOWN_SECONDS;
        hooks.onSlowDown?.(intervalSeconds);
        continue;
      case 'expired_token':
        throw expired();
      case 'access_denied':
        throw authError('The sign-in was denied at the identity provider (cancelled or refused); nothing was stored.');
      default:
        throw authError(`The identity provider ended the login: ${outcome.error}${outcome.description ? ` (${outcome.description})` : ''}.`);
    }
  }
}

function expired(): CliError {
  return authError('The login code expired before the sign-in was completed; run `portcullis login` again.');
}
