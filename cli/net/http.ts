/**
 * HTTP for the CLI: one place that turns "could not connect" into exit code 5 with a sentence naming what
 * was unreachable, and a reply that is not the JSON we asked for into exit code 4. Used for the control
 * plane and the identity provider alike.
 */
import { CliError, ExitCode } from '../exit.js';

export const DEFAULT_TIMEOUT_MS = 30_000;

/** Who we were talking to, for messages: e.g. "the control plane", "the identity provider". */
export interface Peer {
  readonly name: string;
  readonly timeoutMs?: number;
}

export async function send(peer: Peer, url: string, init: RequestInit = {}): Promise<Response> {
  const timeoutMs = peer.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  try {
    return await fetch(url, { ...init, redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
  } catch (error) {
    throw new CliError(ExitCode.Unreachable, `Cannot reach ${peer.name} at ${origin(url)}: ${networkReason(error, timeoutMs)}.`);
  }
}

/** The body as JSON, or exit 4 when it is not (an HTML error page from a proxy, a truncated reply). */
export async function readJson(peer: Peer, url: string, response: Response): Promise<unknown> {
  let text: string;
  try {
    text = await response.text();
  } catch (error) {
    throw new CliError(ExitCode.Unreachable, `Lost the connection to ${peer.name} at ${origin(url)}: ${networkReason(error, peer.timeoutMs ?? DEFAULT_TIMEOUT_MS)}.`);
  }
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    throw new CliError(ExitCode.Server, `${capitalize(peer.name)} at ${origin(url)} answered HTTP ${response.status} with a body that is not JSON; is this the right URL?`);
  }
}

export function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

const REASONS: Readonly<Record<string, string>> = {
  ECONNREFUSED: 'connection refused',
  ENOTFOUND: 'host name not found',
  EAI_AGAIN: 'host name lookup failed',
  ECONNRESET: 'connection reset',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  ETIMEDOUT: 'connection timed out',
  UND_ERR_CONNECT_TIMEOUT: 'connection timed out',
  UND_ERR_SOCKET: 'connection closed unexpectedly',
  DEPTH_ZERO_SELF_SIGNED_CERT: 'its TLS certificate is self-signed',
  CERT_HAS_EXPIRED: 'its TLS certificate has expired',
  ERR_TLS_CERT_ALTNAME_INVALID: 'its TLS certificate is for another host name',
  UNABLE_TO_VERIFY_LEAF_SIGNATURE: 'its TLS certificate could not be verified',
};

function networkReason(error: unknown, timeoutMs: number): string {
  if (error instanceof DOMException && (error.name === 'TimeoutError' || error.name === 'AbortError')) {
    return `no answer within ${Math.round(timeoutMs / 1000)} s`;
  }
  let cause: unknown = error;
  for (let depth = 0; depth < 4 && cause instanceof Error; depth++) {
    const code = (cause as { code?: unknown }).code;
    if (typeof code === 'string' && REASONS[code]) return REASONS[code];
    if (cause.message === 'bad port') return 'fetch refuses to connect to that port';
    cause = cause.cause;
  }
  if (error instanceof TypeError && /invalid url|failed to parse url/i.test(`${error.message} ${String(error.cause)}`)) return 'the URL is not valid';
  return 'the network request failed';
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
