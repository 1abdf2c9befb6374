/** The sample model server runs as a real process and answers like an OpenAI-compatible API. */
import { type ChildProcess, spawn } from 'node:child_process';
import { expect } from 'chai';
import { freePort, waitFor } from '../harness/ports.js';
import { repoPath } from './support/files.js';

const SERVER = repoPath('gateway-config/sample-upstream/server.mjs');

describe('deploy: sample upstream (OpenAI-compatible mock)', () => {
  let child: ChildProcess;
  let base: string;

  before(async () => {
    const port = await freePort();
    base = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, [SERVER], {
      env: { PATH: process.env['PATH'] ?? '', SAMPLE_UPSTREAM_PORT: String(port), SAMPLE_UPSTREAM_HOST: '127.0.0.1' },
      stdio: 'ignore',
    });
    await waitFor(async () => (await fetch(`${base}/healthz`)).ok, 'sample upstream', 15_000);
  });
  after(() => {
    if (child.exitCode === null) child.kill('SIGKILL');
  });

  const chat = (body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) });

  it('lists its model at GET /v1/models', async () => {
    const res = await fetch(`${base}/v1/models`);
    expect(res.status).to.equal(200);
    const body = (await res.json()) as { object: string; data: { id: string; object: string }[] };
    expect(body.object).to.equal('list');
    expect(body.data.map((m) => m.id)).to.deep.equal(['portcullis-demo-mini']);
    expect(body.data[0]!.object).to.equal('model');
  });

  it('answers POST /v1/chat/completions with a chat.completion and echoes only the Portcullis identity headers', async () => {
    const res = await chat(
      { model: 'portcullis-demo-mini', messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hello there' }] },
      { 'X-Portcullis-Subject': 'bob', 'X-Portcullis-Plan': 'demo', Authorization: 'Bearer secret' },
    );
    expect(res.status).to.equal(200);
    const body = (await res.json()) as Record<string, any>;
    expect(body['object']).to.equal('chat.completion');
    expect(body['choices'][0].message).to.deep.equal({ role: 'assistant', content: 'You said: hello there' });
    expect(body['choices'][0].finish_reason).to.equal('stop');
    expect(body['usage']).to.deep.equal({ prompt_tokens: 4, completion_tokens: 4, total_tokens: 8 });
    expect(body['portcullis_identity']).to.deep.equal({ 'x-portcullis-subject': 'bob', 'x-portcullis-plan': 'demo' });
  });

  it('rejects bad requests with OpenAI’s error envelope', async () => {
    const badJson = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: '{nope' });
    expect(badJson.status).to.equal(400);
    expect(((await badJson.json()) as { error: { type: string } }).error.type).to.equal('invalid_request_error');
    expect((await chat({ messages: [] })).status).to.equal(400);
    expect((await chat({ model: 'gpt-9', messages: [{ role: 'user', content: 'x' }] })).status).to.equal(404);
    expect((await fetch(`${base}/v1/chat/completions`)).status).to.equal(405);
    expect((await fetch(`${base}/v1/nothing`)).status).to.equal(404);
    const huge = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: 'x'.repeat(2 * 1024 * 1024) }).catch(() => undefined);
    if (huge) expect(huge.status).to.equal(413);
  });

  it('stops cleanly on SIGTERM', async () => {
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGTERM');
    expect(await exited).to.equal(0);
  });
});
