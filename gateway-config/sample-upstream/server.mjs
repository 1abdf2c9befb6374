// @ts-check
/**
 * A stand-in ML model server for the compose walkthrough: the OpenAI-compatible endpoints most clients
 * call (`GET /v1/models`, `POST /v1/chat/completions`), with no dependencies so it runs from the project
 * image as it is. It knows nothing about authentication, like the model servers Portcullis protects;
 * it echoes the X-Portcullis-* identity headers it received so the walkthrough can show who the gateway
 * said the caller was.
 *
 * Environment: SAMPLE_UPSTREAM_PORT (default 8000), SAMPLE_UPSTREAM_HOST (default 0.0.0.0).
 */
import { createServer } from 'node:http';

const MODEL_ID = 'portcullis-demo-mini';
const MAX_BODY_BYTES = 1024 * 1024;
const CREATED = Math.floor(Date.now() / 1000);

/** @param {import('node:http').ServerResponse} res @param {number} status @param {unknown} body */
function sendJson(res, status, body) {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/**
 * OpenAI's error envelope, so client libraries surface the message.
 * @param {import('node:http').ServerResponse} res @param {number} status @param {string} message @param {string} [type]
 */
function sendError(res, status, message, type = 'invalid_request_error') {
  sendJson(res, status, { error: { message, type, param: null, code: null } });
}

/** @param {import('node:http').IncomingMessage} req */
function identityOf(req) {
  /** @type {Record<string, string>} */
  const seen = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (name.startsWith('x-portcullis-') && typeof value === 'string') seen[name] = value;
  }
  return seen;
}

/** @param {import('node:http').IncomingMessage} req @returns {Promise<string | undefined>} undefined when too large */
async function readBody(req) {
  const chunks = [];
  let size = 0;
  for await (const chunk of req) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

const countTokens = (/** @type {string} */ text) => text.split(/\s+/).filter(Boolean).length;

/** @param {import('node:http').IncomingMessage} req @param {import('node:http').ServerResponse} res */
async function chatCompletion(req, res) {
  const raw = await readBody(req);
  if (raw === undefined) return sendError(res, 413, 'request body too large');
  /** @type {any} */
  let body;
  try {
    body = JSON.parse(raw);
  } catch {
    return sendError(res, 400, 'request body is not valid JSON');
  }
  if (typeof body !== 'object' || body === null || !Array.isArray(body.messages) || body.messages.length === 0) {
    return sendError(res, 400, '"messages" must be a non-empty array');
  }
  if (body.model !== undefined && body.model !== MODEL_ID) {
    return sendError(res, 404, `The model '${String(body.model)}' does not exist`, 'not_found_error');
  }
  const prompt = body.messages.map((/** @type {any} */ m) => (typeof m?.content === 'string' ? m.content : '')).join(' ');
  const lastUser = [...body.messages].reverse().find((/** @type {any} */ m) => m?.role === 'user');
  const answer = `You said: ${typeof lastUser?.content === 'string' ? lastUser.content : ''}`;
  sendJson(res, 200, {
    id: `chatcmpl-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: MODEL_ID,
    choices: [{ index: 0, message: { role: 'assistant', content: answer }, finish_reason: 'stop' }],
    usage: { prompt_tokens: countTokens(prompt), completion_tokens: countTokens(answer), total_tokens: countTokens(prompt) + countTokens(answer) },
    portcullis_identity: identityOf(req),
  });
}

const server = createServer((req, res) => {
  const path = (req.url ?? '/').split('?')[0];
  if (path === '/healthz') return sendJson(res, 200, { status: 'ok' });
  if (path === '/v1/models' && req.method === 'GET') {
    return sendJson(res, 200, { object: 'list', data: [{ id: MODEL_ID, object: 'model', created: CREATED, owned_by: 'portcullis' }] });
  }
  if (path === '/v1/chat/completions') {
    if (req.method !== 'POST') return sendError(res, 405, 'use POST');
    chatCompletion(req, res).catch(() => sendError(res, 500, 'internal error', 'server_error'));
    return undefined;
  }
  return sendError(res, 404, `no route for ${req.method} ${path}`, 'not_found_error');
});

const port = Number(process.env['SAMPLE_UPSTREAM_PORT'] ?? 8000);
const host = process.env['SAMPLE_UPSTREAM_HOST'] ?? '0.0.0.0';
server.listen(port, host, () => {
  process.stdout.write(`${JSON.stringify({ msg: 'sample upstream listening', host, port, model: MODEL_ID })}\n`);
});

// Containers stop with SIGTERM; finish in-flight requests, then leave.
for (const signal of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
  process.on(signal, () => {
    server.close(() => process.exit(0));
    server.closeIdleConnections();
    setTimeout(() => process.exit(0), 5000).unref();
  });
}
