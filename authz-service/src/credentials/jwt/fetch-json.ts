/**
 * GET a small JSON document from an identity provider (discovery document, JWKS) with a deadline and a size
 * cap, so a misbehaving provider can neither hang a decision nor fill memory.
 */

export class FetchFailed extends Error {
  override readonly name = 'FetchFailed';
}

export interface FetchJsonInit {
  readonly signal: AbortSignal;
  readonly headers?: Headers | Readonly<Record<string, string>>;
  readonly maxBytes: number;
}

export interface FetchedJson {
  /** The body exactly as received (JWKS bodies are handed on to jose unchanged). */
  readonly text: string;
  readonly json: unknown;
}

async function readCapped(response: Response, maxBytes: number): Promise<string> {
  const declared = Number(response.headers.get('content-length') ?? '0');
  if (declared > maxBytes) throw new FetchFailed(`response larger than ${maxBytes} bytes`);
  if (response.body === null) return '';
  const reader = response.body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new FetchFailed(`response larger than ${maxBytes} bytes`);
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks, size).toString('utf8');
}

/** Throws FetchFailed (or the fetch's own error: refused, reset, timed out) unless the answer is 200 with JSON. */
export async function fetchJson(url: string, init: FetchJsonInit): Promise<FetchedJson> {
  // redirects are not followed: a key source that moves is a configuration change, not something to chase
  const response = await fetch(url, { method: 'GET', redirect: 'manual', signal: init.signal, headers: init.headers ?? { accept: 'application/json' } });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new FetchFailed(`HTTP ${response.status}`);
  }
  const text = await readCapped(response, init.maxBytes);
  try {
    return { text, json: JSON.parse(text) as unknown };
  } catch {
    throw new FetchFailed('response is not JSON');
  }
}

/** A short, secret-free reason for logs and events. */
export function fetchFailureReason(error: unknown): string {
  if (error instanceof FetchFailed) return error.message;
  if (error instanceof Error) {
    if (error.name === 'TimeoutError' || error.name === 'AbortError') return 'timed out';
    const cause = (error as { cause?: { code?: unknown } }).cause;
    if (typeof cause?.code === 'string') return `connection failed (${cause.code})`;
    return error.name === 'TypeError' ? 'connection failed' : error.name;
  }
  return 'unknown error';
}
