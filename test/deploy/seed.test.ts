/**
 * What the compose stack protects (gateway-config/compose/portcullis.yaml) is checked by the data plane's
 * own schema and compiler, and the seed script that applies it is run against a recording HTTP server
 * speaking the control plane's documented create semantics (201 created, 409 exists).
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { compileState } from '../../authz-service/src/state/compile.js';
import { IssuerSchema, PlanSchema, windowSeconds } from '../../authz-service/src/state/schema.js';
import { envOf, loadCompose } from './support/compose.js';
import { readText, repoPath } from './support/files.js';
import { loadSeed, runSeed, SEED_FILE, seedAsState } from './support/seed-document.js';

const seedDoc = loadSeed();
const compose = loadCompose();

interface Recorded {
  readonly method: string;
  readonly path: string;
  readonly authorization: string | undefined;
  readonly idempotencyKey: string | undefined;
  readonly body: unknown;
}

async function bodyOf(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A stand-in for the control plane's create endpoints: answers with `statusFor`, records every request. */
async function recordingControlPlane(statusFor: (path: string, body: unknown) => number, readyAfter = 0) {
  const recorded: Recorded[] = [];
  let readyChecks = 0;
  const server: Server = createServer(async (req, res) => {
    if (req.url === '/readyz') {
      readyChecks++;
      res.statusCode = readyChecks > readyAfter ? 200 : 503;
      res.end();
      return;
    }
    const text = await bodyOf(req);
    const body: unknown = JSON.parse(text);
    recorded.push({
      method: req.method!,
      path: req.url!,
      authorization: req.headers.authorization,
      idempotencyKey: req.headers['idempotency-key'] as string | undefined,
      body,
    });
    const status = statusFor(req.url!, body);
    res.writeHead(status, { 'content-type': status < 300 ? 'application/json' : 'application/problem+json' });
    res.end(JSON.stringify(status < 300 ? { id: `id-${recorded.length}` } : { code: status === 409 ? 'conflict' : 'invalid_request', status }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, recorded, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}


describe('deploy: compose seed', () => {
  describe('gateway-config/compose/portcullis.yaml', () => {
    it('is a valid Portcullis state for the data plane’s own schema and compiler', () => {
      for (const plan of seedDoc.plans) expect(PlanSchema.safeParse(plan).success, JSON.stringify(plan)).to.equal(true);
      for (const issuer of seedDoc.issuers) expect(IssuerSchema.safeParse(issuer).success, JSON.stringify(issuer)).to.equal(true);
      const compiled = compileState(seedAsState(seedDoc));
      expect(compiled.ok, compiled.ok ? '' : compiled.errors.join('\n')).to.equal(true);
    });

    it('routes the OpenAI endpoints the walkthrough calls to the sample upstream', () => {
      const compiled = compileState(seedAsState(seedDoc));
      if (!compiled.ok) throw new Error(compiled.errors.join('\n'));
      for (const [method, path] of [['GET', '/v1/models'], ['POST', '/v1/chat/completions']] as const) {
        const match = compiled.state.matchRoute('localhost', path, method);
        expect(match.kind, `${method} ${path}`).to.equal('matched');
        if (match.kind === 'matched') expect(match.service.name).to.equal('models');
      }
      const upstream = new URL(String(seedDoc.services.find((s) => s['name'] === 'models')!['upstream_url']));
      expect(upstream.hostname).to.equal('sample-upstream');
      expect(upstream.port).to.equal(envOf(compose.service('sample-upstream'))['SAMPLE_UPSTREAM_PORT']);
    });

    it('has the per-minute limit the walkthrough says it has', () => {
      const demo = seedDoc.plans.find((p) => p['name'] === 'demo')!;
      const perMinute = (demo['limits'] as { window: string; requests: number }[]).find((l) => windowSeconds(l.window) === 60)!;
      const claimed = /allows (\d+) requests a minute/.exec(readText(repoPath('gateway-config/README.md')));
      expect(Number(claimed?.[1])).to.equal(perMinute.requests);
    });
  });

  describe('seed.mjs', () => {
    const servers: Server[] = [];
    after(() => servers.forEach((s) => s.close()));
    const ADMIN = 'pc_test_admin';

    it('waits for readiness, then creates plans, issuers and services in that order, as the admin', async () => {
      const cp = await recordingControlPlane(() => 201, 2);
      servers.push(cp.server);
      const result = await runSeed([SEED_FILE], { PORTCULLIS_URL: cp.url, PORTCULLIS_TOKEN: ADMIN, SEED_WAIT_SECONDS: '20' });
      expect(result.code, result.stderr).to.equal(0);
      const expected = [
        ...seedDoc.plans.map((b) => ({ path: '/v1/plans', body: b })),
        ...seedDoc.issuers.map((b) => ({ path: '/v1/issuers', body: b })),
        ...seedDoc.services.map((b) => ({ path: '/v1/services', body: b })),
      ];
      expect(cp.recorded.map((r) => ({ path: r.path, body: r.body }))).to.deep.equal(expected);
      for (const r of cp.recorded) {
        expect(r.method).to.equal('POST');
        expect(r.authorization).to.equal(`Bearer ${ADMIN}`);
        expect(r.idempotencyKey).to.match(/^seed-(plans|issuers|services)-/);
      }
    });

    it('counts 409 (already exists) as done, so re-running is harmless', async () => {
      const cp = await recordingControlPlane(() => 409);
      servers.push(cp.server);
      const result = await runSeed([SEED_FILE], { PORTCULLIS_URL: cp.url, PORTCULLIS_TOKEN: ADMIN });
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.match(/exists\s+services models/);
    });

    it('fails, naming the item and showing the problem, when the control plane refuses one', async () => {
      const cp = await recordingControlPlane((path) => (path === '/v1/issuers' ? 422 : 201));
      servers.push(cp.server);
      const result = await runSeed([SEED_FILE], { PORTCULLIS_URL: cp.url, PORTCULLIS_TOKEN: ADMIN });
      expect(result.code).to.equal(1);
      expect(result.stdout).to.match(/FAILED\s+issuers http:\/\/localhost:8180\/realms\/portcullis: HTTP 422 .*invalid_request/);
      expect(cp.recorded.map((r) => r.path), 'it still tries the rest').to.include('/v1/services');
    });

    it('refuses to run without an admin credential, and never prints one', async () => {
      const result = await runSeed([SEED_FILE], { PORTCULLIS_URL: 'http://127.0.0.1:9' });
      expect(result.code).to.equal(2);
      expect(result.stderr).to.match(/usage/);
      const cp = await recordingControlPlane(() => 500);
      servers.push(cp.server);
      const failed = await runSeed([SEED_FILE], { PORTCULLIS_URL: cp.url, PORTCULLIS_TOKEN: ADMIN });
      expect(failed.code).to.equal(1);
      expect(failed.stdout + failed.stderr).not.to.include(ADMIN);
    });
  });
});
