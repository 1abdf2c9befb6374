/**
 * A sample upstream for end-to-end tests: echoes what it received (method, URL, headers) as JSON, so a test
 * can see exactly which identity headers and credentials reached it. It also speaks just enough of the
 * OpenAI API (`/v1/models`, `/v1/chat/completions`, streaming or not) to stand in for a model server.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface EchoedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: string;
}

export interface SampleUpstream {
  readonly port: number;
  readonly url: string;
  /** Every request received, oldest first. */
  readonly received: EchoedRequest[];
  close(): Promise<void>;
}

const MODEL = 'portcullis-mock-1';

function json(res: ServerResponse, status: number, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
  res.end(body);
}

function chatCompletion(res: ServerResponse, body: string): void {
  let request: { model?: string; stream?: boolean; messages?: { content?: string }[] };
  try {
    request = JSON.parse(body || '{}');
  } catch {
    json(res, 400, { error: { message: 'invalid JSON body', type: 'invalid_request_error' } });
    return;
  }
  const model = request.model ?? MODEL;
  const prompt = request.messages?.at(-1)?.content ?? '';
  const words = ['echo:', ...String(prompt).split(/\s+/).filter(Boolean)];
  const created = Math.floor(Date.now() / 1000);
  if (request.stream) {
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
    for (const [i, word] of words.entries()) {
      const chunk = { id: 'chatcmpl-mock', object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: { content: (i ? ' ' : '') + word }, finish_reason: null }] };
      res.write(`data: ${JSON.stringify(chunk)}\n\n`);
    }
    res.write(`data: ${JSON.stringify({ id: 'chatcmpl-mock', object: 'chat.completion.chunk', created, model, choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] })}\n\n`);
    res.end('data: [DONE]\n\n');
    return;
  }
  json(res, 200, {
    id: 'chatcmpl-mock',
    object: 'chat.completion',
    created,
    model,
    choices: [{ index: 0, message: { role: 'assistant', content: words.join(' ') }, finish_reason: 'stop' }],
    usage: { prompt_tokens: words.length - 1, completion_tokens: words.length, total_tokens: 2 * words.length - 1 },
  });
}

function handle(req: IncomingMessage, res: ServerResponse, received: EchoedRequest[]): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const echoed: EchoedRequest = { method: req.method ?? '', url: req.url ?? '', headers: { ...req.headers }, body: Buffer.concat(chunks).toString('utf8') };
    received.push(echoed);
    const path = (req.url ?? '/').split('?', 1)[0]!;
    if (path.endsWith('/v1/models') && req.method === 'GET') {
      json(res, 200, { object: 'list', data: [{ id: MODEL, object: 'model', created: 0, owned_by: 'portcullis' }] });
    } else if (path.endsWith('/v1/chat/completions') && req.method === 'POST') {
      chatCompletion(res, echoed.body);
    } else {
      json(res, 200, echoed);
    }
  });
}

export async function startSampleUpstream(host = '127.0.0.1'): Promise<SampleUpstream> {
  const received: EchoedRequest[] = [];
  const server: Server = createServer((req, res) => handle(req, res, received));
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://${host}:${port}`,
    received,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
