/**
 * The image: multi-stage, pinned base, production dependencies only, non-root, no secrets, a health check
 * that really works. The health check's node one-liner is run here against real HTTP servers.
 */
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { expect } from 'chai';
import { freePort } from '../harness/ports.js';
import { execForm, instructionsOf, lastStage, parseDockerfile, type Stage } from './support/dockerfile.js';
import { isIgnored, parseDockerignore } from './support/dockerignore.js';
import { COMPILED_ENTRY_POINTS, nodeEntryPoint } from './support/entry-points.js';
import { exists, readText, repoPath } from './support/files.js';
import { unpinnedReason } from './support/images.js';

const dockerfile = parseDockerfile(readText(repoPath('Dockerfile')));
const runtime = lastStage(dockerfile);
const ignoreRules = parseDockerignore(readText(repoPath('.dockerignore')));
const stageNames = new Set(dockerfile.stages.map((s) => s.name).filter(Boolean));
const baseImages = dockerfile.stages.map((s) => s.from).filter((from) => !stageNames.has(from));
const SECRET_NAME = /PEPPER|TOKEN|PASSWORD|SECRET|ADMIN_KEY|DATABASE_URL|REDIS_URL|PRIVATE/i;

const runs = (stage: Stage): string[] => instructionsOf(stage, 'RUN').map((i) => i.args);

function healthcheckCommand(): string[] {
  const [hc] = instructionsOf(runtime, 'HEALTHCHECK');
  if (!hc) throw new Error('no HEALTHCHECK in the runtime stage');
  const m = /^(?:--\S+\s+)*CMD\s+(\[.*\])$/s.exec(hc.args);
  if (!m) throw new Error(`HEALTHCHECK is not "CMD [exec form]": ${hc.args}`);
  return execForm(m[1]!);
}

async function runHealthcheck(env: Record<string, string>): Promise<number> {
  const [command, ...args] = healthcheckCommand();
  // The image runs `node`; here that is the same Node major as the runtime image.
  const child = spawn(command === 'node' ? process.execPath : command!, args, {
    env: { PATH: process.env['PATH'] ?? '', ...env },
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('exit', (code) => resolve(code ?? -1));
  });
}

async function serveHealth(status: number): Promise<Server> {
  const server = createServer((req, res) => {
    res.statusCode = req.url === '/healthz' ? status : 404;
    res.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return server;
}

describe('deploy: Dockerfile', () => {
  it('builds in stages (deps → build → runtime) and the runtime stage is the last', () => {
    expect(dockerfile.stages.map((s) => s.name)).to.deep.equal(['deps', 'build', 'runtime']);
    expect(runs(dockerfile.stages[1]!).join('\n')).to.include('npm run build');
  });

  it('pins every base image to an exact node 20 bookworm-slim tag and digest, the same for build and runtime', () => {
    expect(baseImages).to.have.length.greaterThan(0);
    for (const image of baseImages) {
      expect(unpinnedReason(image), image).to.equal(undefined);
      expect(image).to.match(/^node:20\.\d+\.\d+-bookworm-slim@sha256:[0-9a-f]{64}$/);
    }
    expect(new Set(baseImages).size, 'one base image for every stage').to.equal(1);
    expect(runtime.from).to.equal(baseImages[0]);
  });

  it('installs production dependencies only in the runtime stage and never copies node_modules from a build stage', () => {
    const installs = runs(runtime).filter((r) => /\bnpm (ci|install)\b/.test(r));
    expect(installs).to.have.length(1);
    expect(installs[0]).to.match(/npm ci\b.*--omit=dev/);
    for (const copy of instructionsOf(runtime, 'COPY')) expect(copy.args).not.to.match(/node_modules/);
  });

  it('copies only compiled code, runtime contracts and the scripts it runs into the runtime stage', () => {
    const fromBuild = instructionsOf(runtime, 'COPY').filter((c) => c.args.startsWith('--from='));
    expect(fromBuild.map((c) => c.args.split(/\s+/)[1])).to.deep.equal(['/src/dist', '/src/proto']);
  });

  it('takes every plain COPY source from the repository, and .dockerignore does not hide it', () => {
    for (const stage of dockerfile.stages) {
      for (const copy of instructionsOf(stage, 'COPY').filter((c) => !c.args.startsWith('--from='))) {
        const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
        for (const source of parts.slice(0, -1).filter((s) => s !== '.')) {
          expect(exists(repoPath(source)), `${source} (line ${copy.line})`).to.equal(true);
          expect(isIgnored(ignoreRules, source), `${source} is excluded by .dockerignore`).to.equal(false);
        }
      }
    }
  });

  it('runs as a numeric non-root user, set after the last RUN', () => {
    const users = instructionsOf(runtime, 'USER');
    expect(users).to.have.length.greaterThan(0);
    const user = users.at(-1)!;
    const [uid, gid] = user.args.split(':');
    expect(Number(uid), 'numeric uid, so runAsNonRoot can verify it').to.be.a('number').and.greaterThan(0);
    expect(gid === undefined || Number(gid) > 0).to.equal(true);
    const lastRun = Math.max(...instructionsOf(runtime, 'RUN').map((i) => i.line));
    expect(user.line).to.be.greaterThan(lastRun);
  });

  it('bakes no secret into any stage (no ENV/ARG with a secret-looking name, no .env copied)', () => {
    for (const stage of dockerfile.stages) {
      for (const i of stage.instructions.filter((x) => x.keyword === 'ENV' || x.keyword === 'ARG')) {
        const names = [...i.args.matchAll(/([A-Za-z_][A-Za-z0-9_]*)=/g)].map((m) => m[1]!);
        for (const name of names.length ? names : [i.args.split(/[\s=]/)[0]!]) {
          expect(name, `${i.keyword} on line ${i.line}`).not.to.match(SECRET_NAME);
        }
      }
      for (const copy of instructionsOf(stage, 'COPY')) expect(copy.args).not.to.match(/\.env\b/);
    }
    for (const name of dockerfile.globalArgs.keys()) expect(name).not.to.match(SECRET_NAME);
  });

  it('keeps local installs, builds, VCS data, secrets and tests out of the build context', () => {
    for (const path of ['node_modules/x', 'dist/x.js', '.git/HEAD', '.env', '.env.local', 'data/pglite', 'test/harness/ports.ts', 'authz-service/src/core/request.test.ts', 'tls/server.key']) {
      expect(isIgnored(ignoreRules, path), path).to.equal(true);
    }
    for (const path of ['package.json', 'package-lock.json', 'tsconfig.json', 'authz-service/src/core/request.ts', 'gateway-config/sample-upstream/server.mjs']) {
      expect(isIgnored(ignoreRules, path), path).to.equal(false);
    }
  });

  it('starts the control plane by default, in exec form, from a known entry point', () => {
    const [cmd] = instructionsOf(runtime, 'CMD');
    const command = execForm(cmd!.args);
    expect(nodeEntryPoint(command)).to.equal('dist/control-plane/src/main.js');
    expect(COMPILED_ENTRY_POINTS).to.include(nodeEntryPoint(command));
    expect(instructionsOf(runtime, 'ENTRYPOINT'), 'the command alone selects the service').to.have.length(0);
  });

  it('exposes the REST, sync, forwardAuth and ext_authz ports', () => {
    const exposed = instructionsOf(runtime, 'EXPOSE').flatMap((i) => i.args.split(/\s+/)).map(Number);
    expect(exposed).to.include.members([8080, 8282, 8181, 9191]);
  });

  describe('HEALTHCHECK (run for real)', () => {
    const servers: Server[] = [];
    after(() => servers.forEach((s) => s.close()));
    const portOf = (s: Server) => (s.address() as AddressInfo).port;

    it('is healthy when the control plane answers /healthz', async () => {
      const ok = await serveHealth(200);
      servers.push(ok);
      expect(await runHealthcheck({ PORTCULLIS_CONTROL_PLANE_PORT: String(portOf(ok)), PORTCULLIS_AUTHZ_PORT: String(await freePort()) })).to.equal(0);
    });

    it('is healthy when the authz-service answers /healthz', async () => {
      const ok = await serveHealth(200);
      servers.push(ok);
      expect(await runHealthcheck({ PORTCULLIS_CONTROL_PLANE_PORT: String(await freePort()), PORTCULLIS_AUTHZ_PORT: String(portOf(ok)) })).to.equal(0);
    });

    it('is unhealthy when /healthz answers 503', async () => {
      const sick = await serveHealth(503);
      servers.push(sick);
      expect(await runHealthcheck({ PORTCULLIS_CONTROL_PLANE_PORT: String(portOf(sick)), PORTCULLIS_AUTHZ_PORT: String(await freePort()) })).to.equal(1);
    });

    it('is unhealthy when nothing listens', async () => {
      expect(await runHealthcheck({ PORTCULLIS_CONTROL_PLANE_PORT: String(await freePort()), PORTCULLIS_AUTHZ_PORT: String(await freePort()) })).to.equal(1);
    });
  });
});
