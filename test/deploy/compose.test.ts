/**
 * docker-compose.yml cannot be started here (no Docker engine), so every fact that would make `up` fail
 * or the walkthrough lie is checked instead: the Compose schema, pinned images, health checks and start-up
 * order, and the addresses one service uses to reach another.
 */
import { isIP } from 'node:net';
import { expect } from 'chai';
import { inspectApiKey } from '../../authz-service/src/credentials/api-key/format.js';
import { FORWARD_AUTH_PATH } from '../../authz-service/src/http/wire.js';
import { parseIdentityHeaders } from '../../authz-service/src/identity-headers-config.js';
import { type ControlPlaneConfig, parseConfig } from '../../control-plane/src/config.js';
import { forwardAuthMiddleware } from '../../control-plane/src/gateway/traefik.js';
import {
  bindSourceAt,
  commandOf,
  envOf,
  flagsOf,
  healthcheckOf,
  healthcheckUrl,
  loadCompose,
  mountsOf,
  portsOf,
} from './support/compose.js';
import { at, exists, isObject, type JsonObject, readJson, readText, readYaml, repoPath, SHARED_SCHEMAS } from './support/files.js';
import { unpinnedReason } from './support/images.js';
import { compileSchema, describeErrors } from './support/json-schema.js';

const compose = loadCompose();
const { service } = compose;
const packageVersion = (readJson(repoPath('package.json')) as { version: string }).version;

const cp = service('control-plane');
const authz = service('authz-service');
const traefik = service('traefik');
const cpEnv = envOf(cp);
const authzEnv = envOf(authz);
const traefikFlags = flagsOf(traefik);

/** The control plane's configuration as its own parser reads the compose environment. */
function controlPlaneConfig(): ControlPlaneConfig {
  const parsed = parseConfig(cpEnv);
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

/** One-shot jobs: run to completion, never restarted. */
const isOneShot = (s: JsonObject) => s['restart'] === 'no';

function entryPointPort(name: string): number {
  const address = traefikFlags.get(`entrypoints.${name}.address`);
  if (!address) throw new Error(`traefik has no entry point ${name}`);
  return Number(address.split(':').at(-1));
}

/** Port each service serves Prometheus metrics on, as its own configuration says. */
function metricsPort(name: string): number | undefined {
  if (name === 'control-plane') return Number(cpEnv['PORTCULLIS_CONTROL_PLANE_PORT']);
  if (name === 'authz-service') return Number(authzEnv['PORTCULLIS_AUTHZ_PORT']);
  if (name === 'traefik' && traefikFlags.get('metrics.prometheus') === 'true') {
    return entryPointPort(traefikFlags.get('metrics.prometheus.entrypoint') ?? 'traefik');
  }
  return undefined;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, octet) => acc * 256 + Number(octet), 0);
}
function inCidr(ip: string, cidr: string): boolean {
  const [base, bits] = cidr.split('/');
  const size = 2 ** (32 - Number(bits));
  return Math.floor(ipv4ToInt(ip) / size) === Math.floor(ipv4ToInt(base!) / size);
}

describe('deploy: docker-compose.yml', () => {
  it('validates against the Compose specification schema', () => {
    const validate = compileSchema(readJson(`${SHARED_SCHEMAS}/compose-spec.schema.json`));
    expect(validate(compose.raw), describeErrors(validate.errors)).to.equal(true);
    expect(validate(compose.resolved), describeErrors(validate.errors)).to.equal(true);
  });

  it('the schema check is not vacuous: a misspelt key and a wrong type are rejected', () => {
    const validate = compileSchema(readJson(`${SHARED_SCHEMAS}/compose-spec.schema.json`));
    expect(validate({ services: { a: { image: 'x:1.0.0', depends_onn: [] } } })).to.equal(false);
    expect(validate({ services: { a: { image: 'x:1.0.0', ports: 'not-a-list' } } })).to.equal(false);
  });

  it('brings up the whole story: gateway, identity provider, stores, both services, model and metrics', () => {
    expect(compose.serviceNames).to.include.members([
      'traefik', 'keycloak', 'postgres', 'redis', 'migrate', 'control-plane', 'seed', 'authz-service', 'sample-upstream', 'prometheus',
    ]);
  });

  it('pins every image it pulls to an exact version', () => {
    for (const name of compose.serviceNames) {
      const s = service(name);
      if (s['build'] !== undefined) continue;
      expect(s['image'], `${name} has neither image nor build`).to.be.a('string');
      expect(unpinnedReason(String(s['image'])), name).to.equal(undefined);
    }
  });

  it('tags the image it builds with the package version, built from the repository Dockerfile', () => {
    const built = compose.serviceNames.map(service).filter((s) => s['build'] !== undefined);
    expect(built.length).to.be.greaterThan(0);
    for (const s of built) {
      expect(s['image']).to.equal(`portcullis:${packageVersion}`);
      expect(at(s, ['build', 'context'])).to.equal('.');
      expect(at(s, ['build', 'dockerfile'])).to.equal('Dockerfile');
    }
  });

  it('gives every long-running service a health check, and one-shot jobs none', () => {
    for (const name of compose.serviceNames) {
      const s = service(name);
      const hc = healthcheckOf(s);
      if (isOneShot(s)) expect(hc?.['disable'], `${name} is a one-shot job`).to.equal(true);
      else expect(hc?.['test'], `${name} needs a health check`).to.be.an('array').that.is.not.empty;
    }
  });

  it('orders start-up with depends_on conditions that can be met', () => {
    for (const name of compose.serviceNames) {
      const dependsOn = service(name)['depends_on'];
      if (dependsOn === undefined) continue;
      expect(isObject(dependsOn), `${name}: use the long form so conditions are explicit`).to.equal(true);
      for (const [target, spec] of Object.entries(dependsOn as JsonObject)) {
        expect(compose.serviceNames, `${name} depends on ${target}`).to.include(target);
        const condition = at(spec, ['condition']);
        if (condition === 'service_healthy') expect(healthcheckOf(service(target))?.['disable'], `${target} has no health check`).not.to.equal(true);
        else if (condition === 'service_completed_successfully') expect(isOneShot(service(target)), `${target} must be a one-shot job`).to.equal(true);
        else expect.fail(`${name} → ${target}: condition ${String(condition)}`);
      }
    }
    expect(at(cp, ['depends_on', 'migrate', 'condition'])).to.equal('service_completed_successfully');
    expect(at(traefik, ['depends_on', 'authz-service', 'condition'])).to.equal('service_healthy');
  });

  it('runs two authz-service replicas, each with its own snapshot volume and no fixed host port', () => {
    expect(at(authz, ['deploy', 'replicas'])).to.equal(2);
    expect(authz['container_name'], 'a fixed name forbids replicas').to.equal(undefined);
    expect(portsOf(authz), 'replicas cannot share a host port').to.deep.equal([]);
    const snapshot = mountsOf(authz).find((m) => m.target === authzEnv['PORTCULLIS_SNAPSHOT_DIR']);
    expect(snapshot, 'snapshot dir on a volume').to.not.equal(undefined);
    expect(snapshot!.source, 'anonymous: one per replica, never shared').to.equal(undefined);
  });

  it('bind-mounts only files that exist in the repository, read-only', () => {
    for (const name of compose.serviceNames) {
      for (const mount of mountsOf(service(name)).filter((m) => m.source?.startsWith('./'))) {
        expect(exists(repoPath(mount.source!)), `${name}: ${mount.source}`).to.equal(true);
        expect(mount.readOnly, `${name}: ${mount.source} should be :ro`).to.equal(true);
      }
    }
  });

  it('publishes each host port once, and the protected model none at all', () => {
    const hostPorts = compose.serviceNames.flatMap((n) => portsOf(service(n)).map((p) => p.host)).filter((p) => p !== undefined);
    expect(new Set(hostPorts).size).to.equal(hostPorts.length);
    expect(portsOf(service('sample-upstream'))).to.deep.equal([]);
  });

  it('ships a demo admin key in the Portcullis key format', () => {
    expect(inspectApiKey(cpEnv['PORTCULLIS_BOOTSTRAP_ADMIN_KEY']!).kind).to.equal('valid');
  });

  describe('cross-checks between services', () => {
    it('Traefik polls the control plane’s /v1/gateway/traefik on the port the control plane serves REST on', () => {
      const endpoint = new URL(traefikFlags.get('providers.http.endpoint')!);
      expect(endpoint.hostname).to.equal('control-plane');
      expect(endpoint.port).to.equal(cpEnv['PORTCULLIS_CONTROL_PLANE_PORT']);
      expect(endpoint.pathname).to.equal('/v1/gateway/traefik');
    });

    it('Traefik reads its dynamic configuration from the control plane only, authenticated with the gateway token it accepts', () => {
      const config = controlPlaneConfig();
      expect(config.gatewayToken, 'the control plane has a gateway token').to.not.equal(undefined);
      expect(traefikFlags.get('providers.http.headers.authorization')).to.equal(`Bearer ${config.gatewayToken!.reveal()}`);
      expect(config.bootstrapAdminKey?.reveal(), 'a gateway needs no admin rights').to.not.equal(config.gatewayToken!.reveal());
      // one provider: the routers' forwardAuth middleware is the one rendered in the same document
      expect([...traefikFlags.keys()].filter((f) => f.startsWith('providers.') && !f.startsWith('providers.http.'))).to.deep.equal([]);
      expect(exists(repoPath('gateway-config/compose/traefik-dynamic.yml')), 'no stale file-provider middleware').to.equal(false);
    });

    it('the control plane renders forwardAuth to the authz-service’s HTTP port and path, with the identity headers it sets', () => {
      const { gateway } = controlPlaneConfig();
      const address = new URL(forwardAuthMiddleware(gateway, true).forwardAuth.address);
      expect(address.hostname).to.equal('authz-service');
      expect(address.port).to.equal(authzEnv['PORTCULLIS_AUTHZ_PORT']);
      expect(address.pathname).to.equal(FORWARD_AUTH_PATH);
      const dataPlane = parseIdentityHeaders(authzEnv['PORTCULLIS_IDENTITY_HEADERS']);
      expect(dataPlane.ok && dataPlane.names).to.deep.equal(gateway.identityHeaders);
      for (const entryPoint of gateway.entryPoints) expect(entryPointPort(entryPoint), `Traefik entry point ${entryPoint}`).to.be.a('number');
    });

    it('the data plane syncs from the control plane’s sync port, with the same token and the same key pepper', () => {
      expect(authzEnv['PORTCULLIS_SYNC_TARGET']).to.equal(`control-plane:${cpEnv['PORTCULLIS_SYNC_PORT']}`);
      expect(authzEnv['PORTCULLIS_SYNC_TOKEN']).to.be.a('string').and.equal(cpEnv['PORTCULLIS_SYNC_TOKEN']);
      expect(authzEnv['PORTCULLIS_KEY_PEPPER']).to.be.a('string').and.equal(cpEnv['PORTCULLIS_KEY_PEPPER']);
      expect(authzEnv['PORTCULLIS_REDIS_URL']).to.equal(cpEnv['PORTCULLIS_REDIS_URL']);
    });

    it('the data plane trusts X-Forwarded-* from Traefik’s fixed address only', () => {
      const traefikIp = String(at(traefik, ['networks', 'default', 'ipv4_address']));
      expect(isIP(traefikIp)).to.equal(4);
      const subnets = (at(compose.resolved, ['networks', 'default', 'ipam', 'config']) as JsonObject[]).map((c) => String(c['subnet']));
      expect(subnets.some((s) => inCidr(traefikIp, s)), 'Traefik’s address lies in the network').to.equal(true);
      expect(authzEnv['PORTCULLIS_TRUSTED_PROXIES']!.split(',').map((s) => s.trim())).to.deep.equal([`${traefikIp}/32`]);
    });

    it('the control plane and the migration job use the same database, on the postgres service', () => {
      const url = new URL(cpEnv['PORTCULLIS_DATABASE_URL']!);
      expect(envOf(service('migrate'))['PORTCULLIS_DATABASE_URL']).to.equal(cpEnv['PORTCULLIS_DATABASE_URL']);
      expect(url.hostname).to.equal('postgres');
      const pg = envOf(service('postgres'));
      expect(decodeURIComponent(url.username)).to.equal(pg['POSTGRES_USER']);
      expect(decodeURIComponent(url.password)).to.equal(pg['POSTGRES_PASSWORD']);
      expect(url.pathname).to.equal(`/${pg['POSTGRES_DB']}`);
    });

    it('the seed job talks to the control plane’s REST port with the admin key', () => {
      const seedEnv = envOf(service('seed'));
      const url = new URL(seedEnv['PORTCULLIS_URL']!);
      expect(url.hostname).to.equal('control-plane');
      expect(url.port).to.equal(cpEnv['PORTCULLIS_CONTROL_PLANE_PORT']);
      expect(seedEnv['PORTCULLIS_TOKEN']).to.equal(cpEnv['PORTCULLIS_BOOTSTRAP_ADMIN_KEY']);
      const file = commandOf(service('seed')).at(-1)!;
      expect(bindSourceAt(service('seed'), file)).to.equal('gateway-config/compose/portcullis.yaml');
    });

    it('health checks probe the ports the services listen on (authz: /readyz, gated on a loaded snapshot)', () => {
      const expected: Record<string, string> = {
        'control-plane': `${cpEnv['PORTCULLIS_CONTROL_PLANE_PORT']}/readyz`,
        'authz-service': `${authzEnv['PORTCULLIS_AUTHZ_PORT']}/readyz`,
        'sample-upstream': `${envOf(service('sample-upstream'))['SAMPLE_UPSTREAM_PORT']}/healthz`,
      };
      for (const [name, portAndPath] of Object.entries(expected)) {
        const url = healthcheckUrl(service(name));
        expect(`${url?.port}${url?.pathname}`, name).to.equal(portAndPath);
      }
    });

    it('Prometheus scrapes every service on the port that serves its /metrics, and finds each authz replica', () => {
      const prometheus = service('prometheus');
      const configTarget = flagsOf(prometheus).get('config.file')!;
      const source = bindSourceAt(prometheus, configTarget);
      expect(source).to.equal('gateway-config/prometheus/prometheus.yml');
      const config = readYaml(repoPath(source!)) as JsonObject;
      const jobs = config['scrape_configs'] as JsonObject[];
      const scraped = new Set<string>();
      for (const job of jobs) {
        expect(job['metrics_path'] ?? '/metrics').to.equal('/metrics');
        const staticTargets = ((job['static_configs'] as JsonObject[] | undefined) ?? []).flatMap((c) => c['targets'] as string[]);
        for (const target of staticTargets) {
          const [host, port] = target.split(':');
          expect(compose.serviceNames, `${job['job_name']}: ${target}`).to.include(host);
          expect(Number(port), `${job['job_name']}: ${target}`).to.equal(metricsPort(host!));
          scraped.add(host!);
        }
        for (const sd of (job['dns_sd_configs'] as JsonObject[] | undefined) ?? []) {
          for (const host of sd['names'] as string[]) {
            expect(compose.serviceNames).to.include(host);
            expect(sd['port']).to.equal(metricsPort(host));
            scraped.add(host);
          }
        }
      }
      expect([...scraped]).to.include.members(['control-plane', 'authz-service', 'traefik']);
      // Several replicas behind one name: only DNS discovery sees each of them.
      const authzJob = jobs.find((j) => JSON.stringify(j).includes('authz-service'))!;
      expect((authzJob['dns_sd_configs'] as JsonObject[])[0]!['type']).to.equal('A');
    });

    it('the README’s compose services and URLs exist', () => {
      const readme = readText(repoPath('gateway-config/README.md'));
      const mentioned = [...readme.matchAll(/docker compose (?:logs|ps|restart|stop|start|kill|up)((?:[ \t]+-{1,2}[\w-]+)*)((?:[ \t]+[a-z][a-z0-9-]*)*)/g)]
        .flatMap((m) => m[2]!.trim().split(/\s+/).filter(Boolean));
      expect(mentioned.length, 'the walkthrough names services').to.be.greaterThan(0);
      for (const name of mentioned) expect(compose.serviceNames, `README mentions ${name}`).to.include(name);
      const published = new Set(compose.serviceNames.flatMap((n) => portsOf(service(n)).map((p) => p.host)));
      for (const m of readme.matchAll(/http:\/\/localhost:(\d+)/g)) expect(published.has(Number(m[1])), m[0]).to.equal(true);
    });
  });
});
