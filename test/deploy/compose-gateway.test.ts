/**
 * The compose stack's gateway wiring, run for real without Docker: a control plane configured with the
 * compose file's own environment (embedded database instead of the postgres service), seeded by the
 * compose seed job's script and file, asked for its Traefik configuration exactly as Traefik's HTTP provider
 * is configured to ask (endpoint path and headers from Traefik's flags). The answer must be a document
 * Traefik accepts that routes the walkthrough's model to the sample upstream through forwardAuth at the
 * authz-service, on an entry point Traefik has.
 */
import { expect } from 'chai';
import { FORWARD_AUTH_PATH } from '../../authz-service/src/http/wire.js';
import { identityHeaderList } from '../../authz-service/src/core/identity-headers.js';
import { parseIdentityHeaders } from '../../authz-service/src/identity-headers-config.js';
import type { TraefikDynamicConfig } from '../../control-plane/src/gateway/traefik.js';
import { type Harness, startHarness } from '../../control-plane/src/testing/harness.js';
import { expectValidTraefikDynamic } from '../harness/traefik-schema.js';
import { commandOf, envOf, flagsOf, loadCompose } from './support/compose.js';
import { repoPath } from './support/files.js';
import { loadSeed, runSeed, SEED_FILE, SEED_SCRIPT } from './support/seed-document.js';

const compose = loadCompose();
const cpEnv = envOf(compose.service('control-plane'));
const authzEnv = envOf(compose.service('authz-service'));
const upstreamEnv = envOf(compose.service('sample-upstream'));
const traefikFlags = flagsOf(compose.service('traefik'));

/** What Traefik's HTTP provider sends: the endpoint's path, and every `providers.http.headers.*` flag. */
function pollAsTraefik(cp: Harness): Promise<Response> {
  const endpoint = new URL(traefikFlags.get('providers.http.endpoint')!);
  const headers: Record<string, string> = {};
  for (const [flag, value] of traefikFlags) if (flag.startsWith('providers.http.headers.')) headers[flag.slice('providers.http.headers.'.length)] = value;
  return fetch(`${cp.baseUrl}${endpoint.pathname}${endpoint.search}`, { headers });
}

describe('deploy: compose gateway wiring, live (control plane → Traefik HTTP provider)', function () {
  this.timeout(120_000);
  let cp: Harness;

  before(async () => {
    // the compose environment minus the postgres service's URL: the embedded database stands in for it
    const { PORTCULLIS_DATABASE_URL: _database, ...env } = cpEnv;
    cp = await startHarness('pglite', 'compose_gateway', { env });
  });
  after(async () => {
    await cp?.close();
  });

  it('answers Traefik’s poll with 200 and a valid document even before anything is declared', async () => {
    const res = await pollAsTraefik(cp);
    expect(res.status, await res.clone().text()).to.equal(200);
    const doc = (await res.json()) as TraefikDynamicConfig;
    expectValidTraefikDynamic(doc);
    expect(doc.http.routers).to.deep.equal({});
  });

  it('refuses the poll without Traefik’s header (so a wrong token shows up as a provider error, not an empty config)', async () => {
    const endpoint = new URL(traefikFlags.get('providers.http.endpoint')!);
    expect((await fetch(`${cp.baseUrl}${endpoint.pathname}`)).status).to.equal(401);
  });

  it('after the seed job, routes every seeded service on Traefik’s entry points, to its upstream, through forwardAuth at the authz-service', async () => {
    const seed = compose.service('seed');
    expect(repoPath(commandOf(seed)[1]!)).to.equal(SEED_SCRIPT);
    const seeded = await runSeed([SEED_FILE], { PORTCULLIS_URL: cp.baseUrl, PORTCULLIS_TOKEN: envOf(seed)['PORTCULLIS_TOKEN']! });
    expect(seeded.code, seeded.stdout + seeded.stderr).to.equal(0);
    const res = await pollAsTraefik(cp);
    expect(res.status).to.equal(200);
    const doc = (await res.json()) as TraefikDynamicConfig;
    expectValidTraefikDynamic(doc);

    const routers = Object.values(doc.http.routers);
    expect(routers).to.have.length(loadSeed().services.length);
    const identity = parseIdentityHeaders(authzEnv['PORTCULLIS_IDENTITY_HEADERS']);
    if (!identity.ok) throw new Error(identity.errors.join('\n'));
    for (const router of routers) {
      for (const entryPoint of router.entryPoints) expect(traefikFlags.get(`entrypoints.${entryPoint.toLowerCase()}.address`), `entry point ${entryPoint}`).to.be.a('string');
      // no provider suffix: the middleware is in this very document, not in a file that might disagree
      for (const name of router.middlewares) {
        expect(name).not.to.contain('@');
        const forwardAuth = doc.http.middlewares[name]!.forwardAuth;
        const address = new URL(forwardAuth.address);
        expect(`${address.hostname}:${address.port}${address.pathname}`).to.equal(`authz-service:${authzEnv['PORTCULLIS_AUTHZ_PORT']}${FORWARD_AUTH_PATH}`);
        expect(forwardAuth.authResponseHeaders).to.include.members(identityHeaderList(identity.names));
      }
    }
    const models = doc.http.services['portcullis-models']!.loadBalancer.servers.map((s) => new URL(s.url));
    expect(models.map((u) => `${u.hostname}:${u.port}`)).to.deep.equal([`sample-upstream:${upstreamEnv['SAMPLE_UPSTREAM_PORT']}`]);
  });
});
