/**
 * charts/portcullis without helm: Chart.yaml and values.yaml against their schemas (and the values schema
 * against wrong input, so it is not vacuous), every `.Values` reference resolvable and every value used,
 * well-formed template blocks, and the static structure of each manifest — probes, drain, read-only root,
 * emptyDirs, ports — cross-checked against the image and the data plane's identity headers.
 */
import { expect } from 'chai';
import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEFAULT_IDENTITY_HEADERS, identityHeaderList } from '../../authz-service/src/core/identity-headers.js';
import { tlsEnvNames } from '../../authz-service/src/grpc/tls.js';
import { SYNC_TLS_PREFIX, syncConfigFromEnv } from '../../authz-service/src/sync/config.js';
import { parseConfig } from '../../control-plane/src/config.js';
import { tlsFiles } from '../harness/tls.js';
import { instructionsOf, lastStage, parseDockerfile } from './support/dockerfile.js';
import { at, isObject, type JsonObject, readJson, readText, readYaml, repoPath, SHARED_SCHEMAS } from './support/files.js';
import {
  blockProblems,
  CHART_DIR,
  chartTemplates,
  conditionsAt,
  definedKeys,
  definedNames,
  duplicateMappingKeys,
  includedNames,
  leafPaths,
  skeleton,
  valuesReferences,
} from './support/helm.js';
import { compileSchema, describeErrors } from './support/json-schema.js';

const chart = readYaml(`${CHART_DIR}/Chart.yaml`) as JsonObject;
const values = readYaml(`${CHART_DIR}/values.yaml`) as JsonObject;
const valuesSchema = readJson(`${CHART_DIR}/values.schema.json`) as JsonObject;
const templates = chartTemplates();
const manifests = templates.filter((t) => t.name.endsWith('.yaml'));
const templateText = (name: string) => templates.find((t) => t.name === name)!.text;
const skeletonOf = (name: string): JsonObject => {
  const [doc] = skeleton(templateText(name));
  if (!doc) throw new Error(`${name} has no static YAML`);
  return doc;
};
const containerOf = (doc: JsonObject): JsonObject => (at(doc, ['spec', 'template', 'spec', 'containers']) as JsonObject[])[0]!;
const clone = <T>(v: T): T => structuredClone(v);

/** Where a values path lands in the schema; the reason it does not, as a string. */
function schemaCoverage(schema: JsonObject, path: readonly string[]): string | undefined {
  let node: JsonObject = schema;
  for (const [depth, key] of path.entries()) {
    const properties = node['properties'];
    if (!isObject(properties)) return undefined; // a declared pass-through object (resources, affinity …)
    if (node['additionalProperties'] !== false) return `${path.slice(0, depth).join('.') || '(root)'} accepts unknown keys`;
    const next = properties[key];
    if (!isObject(next)) return `${path.slice(0, depth + 1).join('.')} is not in values.schema.json`;
    node = next;
  }
  return typeof node['description'] === 'string' ? undefined : `${path.join('.')} has no description`;
}

describe('deploy: Helm chart', () => {
  describe('Chart.yaml', () => {
    it('validates against the Helm chart schema', () => {
      const validate = compileSchema(readJson(`${SHARED_SCHEMAS}/helm-chart.schema.json`));
      expect(validate(chart), describeErrors(validate.errors)).to.equal(true);
      expect(validate({ ...chart, apiVersion: 'v9' }), 'the schema check is not vacuous').to.equal(false);
    });

    it('is a Helm 3 application chart whose appVersion is the package version', () => {
      expect(chart['apiVersion']).to.equal('v2');
      expect(chart['type']).to.equal('application');
      expect(String(chart['version'])).to.match(/^\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$/);
      expect(chart['appVersion']).to.equal((readJson(repoPath('package.json')) as { version: string }).version);
    });
  });

  describe('values.yaml and values.schema.json', () => {
    const validate = compileSchema(valuesSchema, { strict: true });

    it('values.yaml validates against values.schema.json', () => {
      expect(validate(values), describeErrors(validate.errors)).to.equal(true);
    });

    it('the schema declares and describes every value, and closes every object it spells out', () => {
      const problems = leafPaths(values).map((p) => schemaCoverage(valuesSchema, p)).filter(Boolean);
      expect(problems).to.deep.equal([]);
    });

    it('the schema rejects wrong types, unknown keys and bad enums (it is not vacuous)', () => {
      const broken: [string, (v: JsonObject) => void][] = [
        ['authz.replicas as a string', (v) => ((v['authz'] as JsonObject)['replicas'] = 'two')],
        ['a misspelt key', (v) => ((v['authz'] as JsonObject)['replica'] = 2)],
        ['an unknown KMS provider', (v) => (((v['config'] as JsonObject)['kms'] as JsonObject)['provider'] = 'gcp-kms')],
        ['a bad pull policy', (v) => ((v['image'] as JsonObject)['pullPolicy'] = 'Sometimes')],
        ['a port out of range', (v) => (((v['controlPlane'] as JsonObject)['ports'] as JsonObject)['http'] = 70000)],
        ['a malformed digest', (v) => ((v['image'] as JsonObject)['digest'] = 'sha256:xyz')],
        ['a secret without a key', (v) => (((v['secrets'] as JsonObject)['keyPepper'] as JsonObject)['key'] = '')],
        ['a percentage without %', (v) => (((v['authz'] as JsonObject)['podDisruptionBudget'] as JsonObject)['maxUnavailable'] = 'half')],
      ];
      for (const [what, mutate] of broken) {
        const v = clone(values);
        mutate(v);
        expect(validate(v), what).to.equal(false);
      }
    });

    it('defaults: non-root as the image’s user, read-only root filesystem, full capacity during rollouts, drain time', () => {
      const user = instructionsOf(lastStage(parseDockerfile(readText(repoPath('Dockerfile')))), 'USER').at(-1)!.args;
      expect(at(values, ['podSecurityContext', 'runAsNonRoot'])).to.equal(true);
      expect(`${at(values, ['podSecurityContext', 'runAsUser'])}:${at(values, ['podSecurityContext', 'runAsGroup'])}`).to.equal(user);
      expect(at(values, ['containerSecurityContext', 'readOnlyRootFilesystem'])).to.equal(true);
      expect(at(values, ['containerSecurityContext', 'allowPrivilegeEscalation'])).to.equal(false);
      expect(at(values, ['authz', 'updateStrategy', 'maxUnavailable'])).to.equal(0);
      for (const component of ['authz', 'controlPlane']) {
        expect(Number(at(values, [component, 'terminationGracePeriodSeconds']))).to.be.greaterThan(Number(at(values, [component, 'preStopSleepSeconds'])));
        expect(Number(at(values, [component, 'preStopSleepSeconds'])), component).to.be.greaterThan(0);
      }
      expect(Number(at(values, ['authz', 'autoscaling', 'minReplicas']))).to.be.greaterThan(Number(at(values, ['authz', 'podDisruptionBudget', 'maxUnavailable'])));
    });

    it('the ports are the services’ documented defaults', () => {
      expect(at(values, ['controlPlane', 'ports'])).to.deep.equal({ http: 8080, sync: 8282 });
      expect(at(values, ['authz', 'ports'])).to.deep.equal({ http: 8181, grpc: 9191 });
    });

    it('the Traefik middleware copies exactly the data plane’s identity headers and strips forged ones', () => {
      const middleware = at(values, ['traefik', 'middleware']) as JsonObject;
      expect(middleware['authResponseHeaders']).to.deep.equal(identityHeaderList(DEFAULT_IDENTITY_HEADERS));
      const strip = new RegExp(String(middleware['authResponseHeadersRegex']), 'i');
      for (const header of identityHeaderList(DEFAULT_IDENTITY_HEADERS)) expect(strip.test(header), header).to.equal(true);
    });
  });

  describe('templates', () => {
    it('reference only values that exist in values.yaml', () => {
      const missing = templates.flatMap((t) =>
        valuesReferences(t.text)
          .filter((path) => !path.every((_, i) => isObject(at(values, path.slice(0, i))) && path[i]! in (at(values, path.slice(0, i)) as JsonObject)))
          .map((path) => `${t.name}: .Values.${path.join('.')}`),
      );
      expect(missing).to.deep.equal([]);
    });

    it('use every value in values.yaml (no dead settings)', () => {
      const referenced = templates.flatMap((t) => valuesReferences(t.text).map((p) => p.join('.')));
      const unused = leafPaths(values)
        .map((p) => p.join('.'))
        .filter((leaf) => !referenced.some((r) => leaf === r || leaf.startsWith(`${r}.`)));
      expect(unused).to.deep.equal([]);
    });

    it('have balanced blocks and include only templates that are defined', () => {
      const defined = new Set(templates.flatMap((t) => definedNames(t.text)));
      for (const t of templates) {
        expect(blockProblems(t.text), t.name).to.deep.equal([]);
        for (const name of includedNames(t.text)) expect(defined.has(name), `${t.name} includes ${name}`).to.equal(true);
      }
    });

    it('never give one mapping the same key twice (literal keys and helpers’ keys together)', () => {
      const helperKeys = definedKeys(templates);
      expect(helperKeys.get('portcullis.selectorLabels'), 'the scanner reads helper keys').to.include('app.kubernetes.io/component');
      for (const t of manifests) expect(duplicateMappingKeys(t.text, helperKeys), t.name).to.deep.equal([]);
      const doubled = '    labels:\n      {{- include "portcullis.labels" . | nindent 6 }}\n      {{- include "portcullis.selectorLabels" (dict) | nindent 6 }}\n';
      expect(duplicateMappingKeys(doubled, helperKeys), 'it would catch labels + selector labels').to.include('app.kubernetes.io/name');
    });

    it('label pods with everything their selector matches, so Deployments and Services find them', () => {
      const helperKeys = definedKeys(templates);
      const selectorKeys = helperKeys.get('portcullis.selectorLabels')!;
      for (const [name, component] of [['authz-deployment.yaml', 'authz-service'], ['controlplane-deployment.yaml', 'control-plane']]) {
        const text = templateText(name!);
        expect(text).to.include(`(dict "root" . "component" "${component}")`);
        const podLabels = /template:\n {4}metadata:\n {6}labels:\n((?: {8}.*\n)+)/.exec(text)?.[1] ?? '';
        const keys = [
          ...[...podLabels.matchAll(/include "([^"]+)"/g)].flatMap((m) => helperKeys.get(m[1]!) ?? []),
          ...[...podLabels.matchAll(/^ {8}([A-Za-z0-9./_-]+): (\S+)$/gm)].map((m) => m[1]!),
        ];
        expect(keys, name).to.include.members(selectorKeys);
        expect(podLabels, name).to.include(`app.kubernetes.io/component: ${component}`);
      }
    });

    it('are well-formed YAML around their actions, each naming an apiVersion and kind', () => {
      for (const t of manifests) {
        const docs = skeleton(t.text);
        expect(docs.length, t.name).to.be.greaterThan(0);
        for (const doc of docs) {
          expect(doc['apiVersion'], t.name).to.be.a('string');
          expect(doc['kind'], t.name).to.be.a('string');
        }
      }
    });

    it('cover the required kinds with current API versions', () => {
      const kinds = manifests.flatMap((t) => skeleton(t.text).map((d) => `${d['apiVersion']} ${d['kind']}`));
      expect(kinds).to.include.members([
        'apps/v1 Deployment',
        'v1 Service',
        'v1 ConfigMap',
        'v1 Secret',
        'v1 ServiceAccount',
        'autoscaling/v2 HorizontalPodAutoscaler',
        'policy/v1 PodDisruptionBudget',
        'batch/v1 Job',
        'monitoring.coreos.com/v1 ServiceMonitor',
        'networking.k8s.io/v1 NetworkPolicy',
        'traefik.io/v1alpha1 Middleware',
      ]);
    });
  });

  describe('workloads', () => {
    const configMap = skeletonOf('configmap.yaml');
    const authz = skeletonOf('authz-deployment.yaml');
    const cp = skeletonOf('controlplane-deployment.yaml');

    function mountPath(doc: JsonObject, volume: string): string | undefined {
      return ((containerOf(doc)['volumeMounts'] as JsonObject[]) ?? []).find((m) => m['name'] === volume)?.['mountPath'] as string | undefined;
    }
    function emptyDirs(doc: JsonObject): string[] {
      return ((at(doc, ['spec', 'template', 'spec', 'volumes']) as JsonObject[]) ?? []).filter((v) => 'emptyDir' in v).map((v) => String(v['name']));
    }

    it('the data plane is ready only with a loaded snapshot (/readyz) and alive by /healthz, on its http port', () => {
      const c = containerOf(authz);
      expect(at(c, ['readinessProbe', 'httpGet'])).to.deep.equal({ path: '/readyz', port: 'http' });
      expect(at(c, ['livenessProbe', 'httpGet'])).to.deep.equal({ path: '/healthz', port: 'http' });
      expect((c['ports'] as JsonObject[]).map((p) => p['name'])).to.deep.equal(['http', 'grpc']);
    });

    it('the data plane rolls without dropping requests: surge-first strategy, preStop sleep, grace period', () => {
      expect(at(authz, ['spec', 'strategy', 'type'])).to.equal('RollingUpdate');
      const text = templateText('authz-deployment.yaml');
      expect(text).to.include('maxUnavailable: {{ .Values.authz.updateStrategy.maxUnavailable }}');
      expect(text).to.include('include "portcullis.preStop" .Values.authz.preStopSleepSeconds');
      expect(text).to.include('terminationGracePeriodSeconds: {{ .Values.authz.terminationGracePeriodSeconds }}');
      expect(templateText('_helpers.tpl')).to.match(/define "portcullis\.preStop"[\s\S]*?preStop:\s*\n\s*exec:\s*\n\s*command: \["sleep", "\{\{ \. \}\}"\]/);
    });

    it('both services write only to emptyDirs: /tmp, the snapshot and the embedded database, where the config points', () => {
      expect(emptyDirs(authz)).to.include.members(['tmp', 'snapshot']);
      expect(mountPath(authz, 'tmp')).to.equal('/tmp');
      expect(mountPath(authz, 'snapshot')).to.equal(at(configMap, ['data', 'PORTCULLIS_SNAPSHOT_DIR']));
      expect(emptyDirs(cp)).to.include.members(['tmp', 'data']);
      expect(mountPath(cp, 'data')).to.equal(at(configMap, ['data', 'PORTCULLIS_DATA_DIR']));
      for (const name of ['authz-deployment.yaml', 'controlplane-deployment.yaml', 'migration-job.yaml']) {
        const text = templateText(name);
        expect(text, name).to.match(/ {10}securityContext:\n {12}\{\{- toYaml \.Values\.containerSecurityContext \| nindent 12 \}\}/);
        expect(text, name).to.match(/ {6}securityContext:\n {8}\{\{- toYaml \.Values\.podSecurityContext \| nindent 8 \}\}/);
        expect(containerOf(skeletonOf(name)), name).to.have.property('securityContext');
      }
    });

    it('the control plane has startup, readiness and liveness probes and both its ports', () => {
      const c = containerOf(cp);
      expect(at(c, ['startupProbe', 'httpGet', 'path'])).to.equal('/healthz');
      expect(at(c, ['readinessProbe', 'httpGet', 'path'])).to.equal('/readyz');
      expect(at(c, ['livenessProbe', 'httpGet', 'path'])).to.equal('/healthz');
      expect((c['ports'] as JsonObject[]).map((p) => p['name'])).to.deep.equal(['http', 'sync']);
      expect(templateText('controlplane-deployment.yaml')).to.include('include "portcullis.preStop" .Values.controlPlane.preStopSleepSeconds');
    });

    it('every secret value reaches the chart\'s own Secret and a service that reads it; the control plane gets the gateway token', () => {
      const secrets = Object.keys(values['secrets'] as JsonObject).filter((name) => name !== 'kms');
      const managed = templateText('secret.yaml');
      const deployments = templateText('controlplane-deployment.yaml') + templateText('authz-deployment.yaml');
      for (const name of secrets) {
        expect(managed, `secret.yaml lists secrets.${name}`).to.include(`.Values.secrets.${name}`);
        expect(deployments, `a deployment reads secrets.${name}`).to.match(new RegExp(`"secret" \\.Values\\.secrets\\.${name}\\)`));
      }
      expect(templateText('controlplane-deployment.yaml')).to.include('"env" "PORTCULLIS_GATEWAY_TOKEN" "secret" .Values.secrets.gatewayToken');
      // a token that lets gateways read their configuration never reaches the data plane
      expect(templateText('authz-deployment.yaml')).to.not.include('PORTCULLIS_GATEWAY_TOKEN');
    });

    it('Services target port names their Deployments declare', () => {
      for (const [svc, deployment] of [['authz-service.yaml', authz], ['controlplane-service.yaml', cp]] as const) {
        const names = (containerOf(deployment)['ports'] as JsonObject[]).map((p) => p['name']);
        for (const port of at(skeletonOf(svc), ['spec', 'ports']) as JsonObject[]) expect(names, svc).to.include(port['targetPort']);
      }
    });

    it('the data plane reaches the control plane’s sync Service port; the ServiceMonitor scrapes a port both Services name', () => {
      const text = templateText('authz-deployment.yaml');
      expect(text).to.include('(include "portcullis.controlPlaneName" .) .Values.controlPlane.ports.sync');
      expect(templateText('controlplane-service.yaml')).to.match(/name: sync\s+port: \{\{ \.Values\.controlPlane\.ports\.sync \}\}/);
      const endpoint = (at(skeletonOf('servicemonitor.yaml'), ['spec', 'endpoints']) as JsonObject[])[0]!;
      expect(endpoint['path']).to.equal('/metrics');
      for (const svc of ['authz-service.yaml', 'controlplane-service.yaml']) {
        expect((at(skeletonOf(svc), ['spec', 'ports']) as JsonObject[]).map((p) => p['name']), svc).to.include(endpoint['port']);
      }
    });

    it('the migration job is a pre-install/pre-upgrade hook that never restarts in place', () => {
      const job = skeletonOf('migration-job.yaml');
      expect(at(job, ['metadata', 'annotations', 'helm.sh/hook'])).to.equal('pre-install,pre-upgrade');
      expect(at(job, ['spec', 'template', 'spec', 'restartPolicy'])).to.equal('Never');
      expect(templateText('migration-job.yaml'), 'hooks run before the release ConfigMap exists').not.to.include('configMapRef');
      // A chart-made Secret the job reads must exist before the job: it is a hook with a lower weight.
      expect(templateText('secret.yaml')).to.match(/helm\.sh\/hook: pre-install,pre-upgrade\s+helm\.sh\/hook-weight: "-10"/);
      expect(Number(at(job, ['metadata', 'annotations', 'helm.sh/hook-weight']))).to.be.greaterThan(-10);
    });

    it('the Traefik Middleware sends forwardAuth to the data plane’s http port at /forward-auth', () => {
      const text = templateText('traefik-middleware.yaml');
      expect(text).to.match(/address: \{\{ printf "http:\/\/%s\.%s\.svc:%v\/forward-auth" \(include "portcullis\.authzName" \.\) \.Release\.Namespace \.Values\.authz\.ports\.http \| quote \}\}/);
      expect(templateText('authz-service.yaml')).to.match(/name: http\s+port: \{\{ \.Values\.authz\.ports\.http \}\}/);
    });

    it('the control plane renders gateway configurations pointing at this release’s data plane (the Middleware’s address, gRPC port)', () => {
      const config = templateText('configmap.yaml');
      const service = '\\(include "portcullis\\.authzName" \\.\\) \\.Release\\.Namespace';
      expect(config).to.match(new RegExp(`PORTCULLIS_GATEWAY_AUTHZ_URL: \\{\\{ printf "http://%s\\.%s\\.svc:%v" ${service} \\.Values\\.authz\\.ports\\.http \\| quote \\}\\}`));
      expect(config).to.match(new RegExp(`PORTCULLIS_GATEWAY_EXT_AUTHZ_ADDRESS: \\{\\{ printf "%s\\.%s\\.svc:%v" ${service} \\.Values\\.authz\\.ports\\.grpc \\| quote \\}\\}`));
      expect(templateText('authz-service.yaml')).to.match(/name: grpc\s+port: \{\{ \.Values\.authz\.ports\.grpc \}\}/);
      expect(templateText('controlplane-deployment.yaml')).to.match(/configMapRef:\s+name: \{\{ include "portcullis\.fullname" \. \}\}/);
    });

    it('the HPA scales the data-plane Deployment and the PDB selects its pods', () => {
      const target = at(skeletonOf('authz-hpa.yaml'), ['spec', 'scaleTargetRef']);
      expect(target).to.deep.equal({ apiVersion: 'apps/v1', kind: 'Deployment', name: '__TPL__' });
      expect(templateText('authz-hpa.yaml')).to.match(/kind: Deployment\n\s+name: \{\{ include "portcullis\.authzName" \. \}\}/);
      expect(templateText('authz-deployment.yaml')).to.match(/^kind: Deployment\nmetadata:\n {2}name: \{\{ include "portcullis\.authzName" \. \}\}/m);
      const selector = /selector:\n {4}matchLabels:\n {6}\{\{- include "portcullis\.selectorLabels" \(dict "root" \. "component" "authz-service"\) \| nindent 6 \}\}/;
      expect(templateText('authz-pdb.yaml')).to.match(selector);
      expect(templateText('authz-deployment.yaml')).to.match(selector);
      expect(templateText('authz-deployment.yaml'), 'the HPA owns the count when enabled').to.match(/if not \.Values\.authz\.autoscaling\.enabled \}\}\n {2}replicas:/);
    });

    describe('syncTls', () => {
      const names = tlsEnvNames(SYNC_TLS_PREFIX);
      const SYNC_IF = 'if eq .Values.authz.stateSource "sync"';
      const TLS_IF = 'if .Values.syncTls.enabled';
      const MUTUAL_IF = 'if .Values.syncTls.mutual';
      const syncTlsEnv = (doc: JsonObject) =>
        Object.fromEntries(((containerOf(doc)['env'] as JsonObject[]) ?? []).filter((e) => String(e['name']).startsWith(SYNC_TLS_PREFIX)).map((e) => [String(e['name']), String(e['value'])]));
      const secretVolume = (doc: JsonObject) => ((at(doc, ['spec', 'template', 'spec', 'volumes']) as JsonObject[]) ?? []).find((v) => v['name'] === 'sync-tls');

      it('is off by default, and each variable and mount is rendered only under the setting it belongs to', () => {
        expect(at(values, ['syncTls', 'enabled'])).to.equal(false);
        const control = templateText('controlplane-deployment.yaml');
        expect(conditionsAt(control, `- name: ${names.cert}\n`)).to.deep.equal([TLS_IF]);
        expect(conditionsAt(control, `- name: ${names.key}\n`)).to.deep.equal([TLS_IF]);
        expect(conditionsAt(control, `- name: ${names.clientCa}\n`)).to.deep.equal([TLS_IF, MUTUAL_IF]);
        expect(conditionsAt(control, '- name: sync-tls\n')).to.deep.equal([TLS_IF]);
        expect(conditionsAt(control, 'secretName: {{ .Values.syncTls.secretName }}')).to.deep.equal([TLS_IF]);
        const data = templateText('authz-deployment.yaml');
        expect(conditionsAt(data, `- name: ${names.ca}\n`)).to.deep.equal([SYNC_IF, TLS_IF]);
        expect(conditionsAt(data, `- name: ${names.cert}\n`)).to.deep.equal([SYNC_IF, TLS_IF, MUTUAL_IF]);
        expect(conditionsAt(data, `- name: ${names.key}\n`)).to.deep.equal([SYNC_IF, TLS_IF, MUTUAL_IF]);
        expect(conditionsAt(data, `- name: ${names.serverName}\n`)).to.deep.equal([SYNC_IF, TLS_IF, 'with .Values.syncTls.serverName']);
        const mounted = `if and .Values.syncTls.enabled (eq .Values.authz.stateSource "sync")`;
        expect(conditionsAt(data, '- name: sync-tls\n')).to.deep.equal([mounted]);
        expect(conditionsAt(data, 'secretName: {{ .Values.syncTls.secretName }}')).to.deep.equal([mounted]);
        expect(conditionsAt(data, 'key: tls.key')).to.deep.equal([mounted, MUTUAL_IF]);
      });

      it('points both services at files of the mounted Secret, and what they then read parses into mutual TLS', () => {
        const files = tlsFiles();
        const secret: Record<string, string> = { 'tls.crt': files.server.cert, 'tls.key': files.server.key, 'ca.crt': files.ca };
        const dir = mkdtempSync(join(tmpdir(), 'pc-chart-tls-'));
        try {
          for (const [key, file] of Object.entries(secret)) copyFileSync(file, join(dir, key));
          /** The variables with the volume's mount path swapped for a directory holding the Secret's keys. */
          const laidOut = (doc: JsonObject, keysInVolume: readonly string[]) => {
            const mount = mountPath(doc, 'sync-tls');
            expect(mount, 'the Secret is mounted').to.be.a('string');
            expect(at(secretVolume(doc)!, ['secret', 'secretName'])).to.equal('__TPL__');
            const env = syncTlsEnv(doc);
            for (const [name, value] of Object.entries(env)) {
              if (name === names.serverName) continue;
              expect(value.startsWith(`${mount}/`), `${name} is a file in the mount`).to.equal(true);
              expect(keysInVolume, `${name}: the volume holds ${value.slice(mount!.length + 1)}`).to.include(value.slice(mount!.length + 1));
              env[name] = join(dir, value.slice(mount!.length + 1));
            }
            return env;
          };

          // the control plane mounts the whole Secret: kubernetes.io/tls keys plus ca.crt
          const cpEnv = laidOut(cp, Object.keys(secret));
          expect(Object.keys(cpEnv).sort()).to.deep.equal([names.cert, names.clientCa, names.key].sort());
          const parsed = parseConfig({ ...cpEnv, PORTCULLIS_SYNC_TOKEN: 's'.repeat(32) });
          expect(parsed.ok && parsed.config.sync?.tls?.clientCa, parsed.ok ? '' : parsed.errors.join()).to.not.equal(undefined);

          // the data plane mounts only the items it names
          const items = ((at(secretVolume(authz)!, ['secret', 'items']) as JsonObject[]) ?? []).filter((i) => i['key'] === i['path']).map((i) => String(i['key']));
          expect(items.sort()).to.deep.equal(['ca.crt', 'tls.crt', 'tls.key']);
          const { [names.serverName]: serverName, ...authzEnv } = laidOut(authz, items);
          expect(serverName).to.equal('__TPL__');
          expect(templateText('authz-deployment.yaml')).to.match(/with \.Values\.syncTls\.serverName \}\}\n\s+- name: PORTCULLIS_SYNC_TLS_SERVER_NAME\n\s+value: \{\{ \. \| quote \}\}/);
          const client = syncConfigFromEnv({ ...authzEnv, PORTCULLIS_SYNC_TARGET: 'portcullis-control-plane:8282', PORTCULLIS_SYNC_TOKEN: 's'.repeat(32) });
          expect(client.ok && client.config?.tls?.identity, client.ok ? '' : client.errors.join()).to.not.equal(undefined);
        } finally {
          rmSync(dir, { recursive: true, force: true });
        }
      });
    });

    it('refuses settings that would lose data or requests, with a message (helpers fail)', () => {
      const helpers = templateText('_helpers.tpl');
      for (const guard of ['secrets.keyPepper', 'secrets.syncToken', 'authz.stateConfigMap.name', 'controlPlane.replicas > 1', 'config.kms.keyId', 'authz.terminationGracePeriodSeconds', 'authz.autoscaling.maxReplicas', 'syncTls.secretName', 'syncTls.enabled needs secrets.syncToken']) {
        expect(helpers, guard).to.match(new RegExp(`fail "${guard.replace(/[.*+?^${}()|[\]\\>]/g, '\\$&')}`));
      }
      expect(templateText('configmap.yaml')).to.match(/^\{\{- include "portcullis\.validate" \. -\}\}/);
    });
  });

  it('has a README and NOTES for people installing it', () => {
    expect(readText(`${CHART_DIR}/README.md`)).to.match(/helm install/);
    expect(templates.map((t) => t.name)).to.include('NOTES.txt');
  });
});
