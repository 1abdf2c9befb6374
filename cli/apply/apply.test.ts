import { expect } from 'chai';
import { CliError, ExitCode } from '../exit.js';
import { covers, diff } from './diff.js';
import { KIND_SPECS, parseDeclarations } from './document.js';
import { normalizeAll } from './normalize.js';

function usageMessage(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(CliError);
    expect((error as CliError).exitCode).to.equal(ExitCode.Usage);
    return (error as CliError).message;
  }
  throw new Error('expected a usage error');
}

const plan = KIND_SPECS[0]!;
const service = KIND_SPECS[1]!;
const consumer = KIND_SPECS[2]!;

describe('apply: the declaration file', () => {
  it('reads YAML and JSON into declarations in dependency order (plans, services, consumers)', () => {
    const yaml = `
consumers:
  - id: ci-bot
    name: CI bot
services:
  - name: chat
    upstream_url: http://chat:8000
    match: { path_prefix: /v1/chat }
plans:
  - name: free
    limits: [{ window: 1m, requests: 60 }]
`;
    const fromYaml = parseDeclarations(yaml, 'f.yaml');
    expect(fromYaml.map((d) => `${d.spec.kind}:${d.key}`)).to.deep.equal(['plan:free', 'service:chat', 'consumer:ci-bot']);
    const fromJson = parseDeclarations(JSON.stringify({ plans: [{ name: 'free', limits: [] }] }), 'f.json');
    expect(fromJson[0]!.body).to.deep.equal({ name: 'free', limits: [] });
  });

  it('reports every structural problem at once', () => {
    const message = usageMessage(() =>
      parseDeclarations(
        `
plans:
  - name: free
  - name: free
  - limits: []
services: {}
consumers:
  - name: no id
widgets: []
`,
        'bad.yaml',
      ),
    );
    expect(message).to.contain('widgets: unknown section');
    expect(message).to.contain('plans[1]: plan "free" is declared twice');
    expect(message).to.contain('plans[2].name: required');
    expect(message).to.contain('services: must be a list');
    expect(message).to.contain('consumers[0].id: required');
  });

  it('refuses text that is not YAML, duplicate keys, and an empty declaration', () => {
    expect(usageMessage(() => parseDeclarations('plans: [', 'x'))).to.match(/not valid YAML or JSON/);
    expect(usageMessage(() => parseDeclarations('plans: []\nplans: []', 'x'))).to.match(/not valid YAML or JSON/);
    expect(usageMessage(() => parseDeclarations('plans: []', 'x'))).to.match(/declares no plans/);
    expect(usageMessage(() => parseDeclarations('- a', 'x'))).to.match(/expected a mapping/);
  });
});

describe('apply: diffing declared against current', () => {
  it('compares declared fields only; server defaults and extra fields do not count as changes', () => {
    expect(covers({ name: 'r', path_prefix: '/a' }, { name: 'r', path_prefix: '/a', cost: 1, scopes: [] })).to.equal(true);
    expect(covers([{ window: '1m', requests: 60 }], [{ window: '1m', requests: 60 }])).to.equal(true);
    expect(covers([{ window: '1m', requests: 60 }], [{ window: '1m', requests: 60 }, { window: '1h', requests: 1 }])).to.equal(false);
    expect(covers(null, undefined)).to.equal(true);
    expect(covers('a', 'b')).to.equal(false);
    expect(covers({ a: 1 }, [1])).to.equal(false);
  });

  it('creates what does not exist, updates only differing fields, leaves the rest alone', () => {
    const declared = { spec: plan, key: 'free', index: 0, body: { name: 'free', limits: [{ window: '1m', requests: 100 }], description: 'Free tier' } };
    expect(diff(declared, undefined)).to.include({ action: 'create', key: 'free' });
    const current = { id: 'plan_1', name: 'free', limits: [{ window: '1m', requests: 60 }], description: 'Free tier', bucket: 'consumer' };
    const change = diff(declared, current);
    if (change.action !== 'update') throw new Error(change.action);
    expect(change.patch).to.deep.equal({ limits: [{ window: '1m', requests: 100 }] });
    expect(change.fields).to.deep.equal([{ field: 'limits', from: [{ window: '1m', requests: 60 }], to: [{ window: '1m', requests: 100 }] }]);
    expect(diff(declared, { ...current, limits: [{ window: '1m', requests: 100 }] }).action).to.equal('unchanged');
  });

  it('normalises like the server: upstream_url shorthand, consumer subject, method case, route defaults', () => {
    const [svc] = normalizeAll(
      [{ spec: service, key: 'chat', index: 0, body: { name: 'chat', upstream_url: 'http://chat:8000', match: { path_prefix: '/chat' }, routes: [{ name: 'r', path_prefix: '/chat/x', methods: ['post'] }] } }],
      'f',
    );
    expect(svc!.body).to.deep.equal({
      name: 'chat',
      match: { path_prefix: '/chat' },
      routes: [{ name: 'r', path_prefix: '/chat/x', methods: ['POST'], scopes: [], roles: [], cost: 1, public: false }],
      upstream_urls: ['http://chat:8000'],
    });
    // top-level defaults (credentials, fail_mode, self_service ...) are not added: the file did not declare them
    expect(diff(svc!, { ...svc!.body, id: 'svc_1', credentials: ['jwt'], fail_mode: 'closed' }).action).to.equal('unchanged');

    const subject = { issuer: 'https://idp.example/realms/x', sub: 'u-1' };
    const [c] = normalizeAll([{ spec: consumer, key: 'ci', index: 0, body: { id: 'ci', name: 'CI', subject } }], 'f');
    expect(c!.body).to.deep.equal({ id: 'ci', name: 'CI', subjects: [subject] });
    const change = diff(c!, { id: 'ci', name: 'CI', subjects: [] });
    if (change.action !== 'update') throw new Error(change.action);
    expect(change.addSubjects).to.deep.equal([subject]);
    expect(change.patch).to.deep.equal({});
    expect(diff(c!, { id: 'ci', name: 'CI', subjects: [subject, { issuer: 'https://other', sub: 'z' }] }).action).to.equal('unchanged');
  });

  it('refuses, all at once and with exit 4, objects the API schema would refuse', () => {
    try {
      normalizeAll(
        [
          { spec: plan, key: 'p', index: 0, body: { name: 'p', limits: [{ window: 'fortnight', requests: 1 }] } },
          { spec: service, key: 'Bad Name', index: 1, body: { name: 'Bad Name', match: {} } },
        ],
        'f.yaml',
      );
      expect.fail('should throw');
    } catch (error) {
      expect((error as CliError).exitCode).to.equal(ExitCode.Server);
      const message = (error as CliError).message;
      expect(message).to.contain('nothing was sent');
      expect(message).to.contain('plans[0] (plan p) limits.0.window');
      expect(message).to.contain('services[1] (service Bad Name) name');
      expect(message).to.contain('upstream_url');
    }
  });
});
