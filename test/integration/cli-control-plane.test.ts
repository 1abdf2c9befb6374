/**
 * The CLI end to end against a running control plane (embedded PGlite in a temp dir, bootstrap admin key
 * from the environment) that trusts a real OpenID provider: an admin declares the catalog with `apply`, a
 * user signs in with the device flow and gets, rotates and revokes a key. Every step is `portcullis` as a
 * child process, so exit codes and output are the real ones.
 */
import { expect } from 'chai';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { parseConfig } from '../../control-plane/src/config.js';
import { createControlPlane, type ControlPlane } from '../../control-plane/src/control-plane.js';
import { writePrivateFile } from '../../cli/config/private-file.js';
import { CliProcess, type CliResult, runCli } from '../harness/cli.js';
import { DeviceFlowIssuer } from '../harness/device-flow-issuer.js';
import { freePort } from '../harness/ports.js';

const SECRET = /^pc_[A-Za-z0-9]{20,}$/;
const VERIFICATION_LINK = /^\s+(http:\/\/\S+\/device\?user_code=\S+)$/m;

const CATALOG = `
plans:
  - name: free
    description: Free tier
    limits:
      - { window: 1m, requests: 60 }
services:
  - name: chat
    display_name: Chat completions
    upstream_url: http://127.0.0.1:9001
    match: { path_prefix: /v1/chat }
    credentials: [api_key, jwt]
    plan: free
    routes:
      - { name: completions, path_prefix: /v1/chat/completions, methods: [post] }
  - name: embed
    upstream_url: http://127.0.0.1:9002
    match: { path_prefix: /v1/embeddings }
consumers:
  - id: ci-bot
    name: CI bot
    kind: service_account
    plan: free
`;

describe('portcullis against a running control plane and a real OpenID provider', function () {
  this.timeout(120_000);
  let idp: DeviceFlowIssuer;
  let cp: ControlPlane;
  let url: string;
  let dir: string;
  const adminKey = randomBytes(32).toString('base64url');
  let admin: Record<string, string>;
  let user: Record<string, string>;

  async function adminCall(method: string, urlPath: string, body?: unknown): Promise<any> {
    const res = await fetch(url + urlPath, {
      method,
      headers: { authorization: `Bearer ${adminKey}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${urlPath}: ${res.status} ${text}`);
    return text === '' ? undefined : JSON.parse(text);
  }

  async function auditCount(): Promise<number> {
    let count = 0;
    let cursor: string | null = null;
    do {
      const page: { items: unknown[]; next_cursor: string | null } = await adminCall('GET', `/v1/audit?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
      count += page.items.length;
      cursor = page.next_cursor;
    } while (cursor);
    return count;
  }

  function cli(args: string[], env: Record<string, string>, stdin?: string): Promise<CliResult> {
    return runCli(args, env, stdin);
  }

  /** Time passes: the stored access token is a few seconds from expiry. Returns the stored refresh token. */
  async function ageStoredLogin(env: Record<string, string>): Promise<string> {
    const file = path.join(env['PORTCULLIS_CONFIG_DIR']!, 'tokens.json');
    const tokens = JSON.parse(await readFile(file, 'utf8'));
    const skip = tokens.expires_at - (Math.floor(Date.now() / 1000) + 5);
    tokens.expires_at -= skip;
    tokens.obtained_at -= skip;
    await writePrivateFile(file, JSON.stringify(tokens));
    return tokens.refresh_token;
  }

  before(async () => {
    idp = await DeviceFlowIssuer.start();
    dir = await mkdtemp(path.join(os.tmpdir(), 'pc-cli-e2e-'));
    const parsed = parseConfig({ PORTCULLIS_DATA_DIR: path.join(dir, 'cp'), PORTCULLIS_BOOTSTRAP_ADMIN_KEY: adminKey, PORTCULLIS_LOG_LEVEL: 'silent' });
    if (!parsed.ok) throw new Error(parsed.errors.join('; '));
    cp = await createControlPlane(parsed.config, { announce: () => undefined });
    const server = await cp.listen(0, '127.0.0.1');
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    await adminCall('POST', '/v1/issuers', { issuer: idp.issuer, audiences: [idp.audience] });
    admin = { HOME: dir, PORTCULLIS_CONFIG_DIR: path.join(dir, 'admin'), PORTCULLIS_URL: url, PORTCULLIS_TOKEN: adminKey };
    user = { HOME: dir, PORTCULLIS_CONFIG_DIR: path.join(dir, 'user'), PORTCULLIS_URL: url, PORTCULLIS_OIDC_ISSUER: idp.issuer };
  });

  after(async () => {
    await cp?.close(1000);
    await idp?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('admin: apply', () => {
    it('shows the diff and creates plans, then services, then consumers', async () => {
      const file = path.join(dir, 'catalog.yaml');
      await writeFile(file, CATALOG);
      const result = await cli(['apply', '-f', file], admin);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout.split('\n')).to.include.members([
        '+ plan free (create)',
        '+ service chat (create)',
        '+ service embed (create)',
        '+ consumer ci-bot (create)',
        'Applied: 4 created, 0 updated, 0 unchanged.',
      ]);
      expect(result.stdout + result.stderr).not.to.contain(adminKey);
      const chat = await adminCall('GET', '/v1/services/chat');
      expect(chat).to.deep.include({ upstream_urls: ['http://127.0.0.1:9001'], plan: 'free', display_name: 'Chat completions' });
      expect(chat.routes[0]).to.deep.include({ name: 'completions', methods: ['POST'] });
      expect((await adminCall('GET', '/v1/consumers/ci-bot')).kind).to.equal('service_account');
    });

    it('a second run finds no changes and writes nothing', async () => {
      const file = path.join(dir, 'catalog.yaml');
      const writes = await auditCount();
      const result = await cli(['apply', '-f', file], admin);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.contain('= plan free (unchanged)').and.contain('= service chat (unchanged)').and.contain('= consumer ci-bot (unchanged)');
      expect(result.stdout).to.contain('No changes (4 unchanged).');
      expect(await auditCount()).to.equal(writes);
    });

    it('--dry-run shows an update without writing it; the real run applies only the changed field', async () => {
      const file = path.join(dir, 'catalog-v2.yaml');
      await writeFile(file, CATALOG.replace('{ window: 1m, requests: 60 }', '{ window: 1m, requests: 120 }'));
      const writes = await auditCount();
      const dry = await cli(['apply', '-f', file, '--dry-run'], admin);
      expect(dry.code, dry.stderr).to.equal(0);
      expect(dry.stdout).to.contain('~ plan free (update)\n    limits: [{"window":"1m","requests":60}] -> [{"window":"1m","requests":120}]');
      expect(dry.stdout).to.contain('Dry run: 0 to create, 1 to update, 3 unchanged; nothing was written.');
      expect(await auditCount()).to.equal(writes);
      expect((await adminCall('GET', '/v1/plans/free')).limits).to.deep.equal([{ window: '1m', requests: 60 }]);

      const real = await cli(['apply', '-f', file, '--json'], admin);
      expect(real.code, real.stderr).to.equal(0);
      expect(JSON.parse(real.stdout)).to.deep.include({ dry_run: false, applied: true, counts: { create: 0, update: 1, unchanged: 3 } });
      expect((await adminCall('GET', '/v1/plans/free')).limits).to.deep.equal([{ window: '1m', requests: 120 }]);
    });

    it('a file the API would refuse is reported field by field before anything is written (exit 4)', async () => {
      const file = path.join(dir, 'bad.yaml');
      await writeFile(file, 'plans:\n  - name: ok-plan\n  - name: broken\n    limits: [{ window: fortnight, requests: -1 }]\n');
      const writes = await auditCount();
      const result = await cli(['apply', '-f', file], admin);
      expect(result.code).to.equal(4);
      expect(result.stderr).to.match(/broken/).and.match(/window/);
      expect(await auditCount()).to.equal(writes);
      const missing = await fetch(`${url}/v1/plans/ok-plan`, { headers: { authorization: `Bearer ${adminKey}` } });
      expect(missing.status).to.equal(404);
    });

    it('a file that is not YAML is a usage error (exit 1)', async () => {
      const file = path.join(dir, 'garbage.yaml');
      await writeFile(file, 'plans: [');
      expect((await cli(['apply', '-f', file], admin)).code).to.equal(1);
      expect((await cli(['apply'], admin)).code).to.equal(1);
    });
  });

  describe('user: login, services, init, keys, usage, logout', () => {
    let keyId = '';
    let firstSecret = '';
    let rotatedSecret = '';

    it('logs in with the device flow', async () => {
      const login = new CliProcess(['login'], user);
      const [, link] = await login.waitForStderr(VERIFICATION_LINK);
      await idp.approve(link!, 'alice');
      const result = await login.done;
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.equal(`Logged in to ${idp.issuer} as alice.\n`);
    });

    it('whoami shows the token claims and the consumer the control plane made for the user, refreshing an expiring token first', async () => {
      await ageStoredLogin(user);
      const refreshes = idp.counters.tokenRequests['refresh_token'] ?? 0;
      const result = await cli(['whoami', '--json'], user);
      expect(result.code, result.stderr).to.equal(0);
      const doc = JSON.parse(result.stdout);
      expect(doc.claims).to.include({ sub: 'alice', iss: idp.issuer, aud: idp.audience });
      expect(doc.credential).to.include({ source: 'login', issuer: idp.issuer });
      expect(doc.me.actor).to.include({ kind: 'jwt', admin: false });
      expect(idp.counters.tokenRequests['refresh_token']).to.equal(refreshes + 1);
    });

    it('services lists what the user may use, without keys yet', async () => {
      const result = await cli(['services', '--json'], user);
      expect(result.code, result.stderr).to.equal(0);
      const items: { name: string; has_key: boolean }[] = JSON.parse(result.stdout).items;
      expect(items.map((s) => s.name).sort()).to.deep.equal(['chat', 'embed']);
      expect(items.every((s) => !s.has_key)).to.equal(true);
      const table = await cli(['services'], user);
      expect(table.stdout).to.match(/^SERVICE\s+KEY\s+CREDENTIALS\s+DESCRIPTION$/m).and.match(/^chat\s+no\s+api_key,jwt\s+Chat completions$/m);
    });

    it('init prints the new secret once (stdout: the secret alone) with a warning; a second init does not reprint it', async () => {
      const first = await cli(['init', 'chat'], user);
      expect(first.code, first.stderr).to.equal(0);
      firstSecret = first.stdout.trim();
      expect(firstSecret).to.match(SECRET);
      expect(first.stderr).to.contain('will not be shown again');

      const second = await cli(['init', 'chat', '--json'], user);
      expect(second.code, second.stderr).to.equal(0);
      const doc = JSON.parse(second.stdout);
      expect(doc.created).to.equal(false);
      expect(doc.key).not.to.have.property('key');
      expect(second.stdout + second.stderr).not.to.contain(firstSecret);
      keyId = doc.key.id;

      const human = await cli(['init', 'chat'], user);
      expect(human.stdout).to.equal('');
      expect(human.stderr).to.contain(`You already hold key ${keyId}`);

      const services = JSON.parse((await cli(['services', '--json'], user)).stdout).items;
      expect(services.find((s: { name: string }) => s.name === 'chat')).to.deep.include({ has_key: true });
    });

    it('the secret works as a credential (PORTCULLIS_TOKEN) for the same consumer', async () => {
      const result = await cli(['whoami', '--json'], { ...user, PORTCULLIS_TOKEN: firstSecret });
      expect(result.code, result.stderr).to.equal(0);
      const doc = JSON.parse(result.stdout);
      expect(doc.credential).to.deep.equal({ source: 'PORTCULLIS_TOKEN', kind: 'API key' });
      expect(doc.me.actor).to.include({ kind: 'api_key', key_id: keyId });
    });

    it('keys list shows prefixes and metadata, never a secret', async () => {
      const result = await cli(['keys', 'list', '--json'], user);
      expect(result.code, result.stderr).to.equal(0);
      const items = JSON.parse(result.stdout).items;
      expect(items).to.have.length(1);
      expect(items[0]).to.include({ id: keyId, status: 'active' }).and.not.have.property('key');
      expect(firstSecret.startsWith(items[0].prefix)).to.equal(true);
      expect(result.stdout).not.to.contain(firstSecret);
      const table = await cli(['keys', 'list'], user);
      expect(table.stdout).to.match(new RegExp(`^${keyId}\\s`, 'm'));
    });

    it('keys rotate prints a new secret once; the new one authenticates', async () => {
      const result = await cli(['keys', 'rotate', keyId, '--grace', '60'], user);
      expect(result.code, result.stderr).to.equal(0);
      rotatedSecret = result.stdout.trim();
      expect(rotatedSecret).to.match(SECRET).and.not.equal(firstSecret);
      expect(result.stderr).to.contain('previous secret keeps working for 60 s').and.contain('will not be shown again');
      expect((await cli(['whoami'], { ...user, PORTCULLIS_TOKEN: rotatedSecret })).code).to.equal(0);
    });

    it('usage shows what the data plane reported', async () => {
      const today = new Date().toISOString().slice(0, 10);
      await adminCall('POST', '/v1/usage', {
        batch_id: randomUUID(),
        entries: [{ consumer_id: (await adminCall('GET', `/v1/keys/${keyId}`)).consumer_id, key_id: keyId, day: today, requests: 42, last_used_at: new Date().toISOString() }],
      });
      const mine = await cli(['usage', '--json'], user);
      expect(mine.code, mine.stderr).to.equal(0);
      expect(JSON.parse(mine.stdout)).to.include({ total: 42 });
      const perKey = await cli(['usage', '--key', keyId], user);
      expect(perKey.code, perKey.stderr).to.equal(0);
      expect(perKey.stdout).to.match(/^requests:\s+42$/m).and.match(new RegExp(`^${today}\\s+42$`, 'm'));
    });

    it('keys revoke ends the key: its secret no longer authenticates (exit 2)', async () => {
      const result = await cli(['keys', 'revoke', keyId, '--reason', 'test'], user);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.contain(`Revoked key ${keyId}`);
      const rejected = await cli(['whoami'], { ...user, PORTCULLIS_TOKEN: rotatedSecret });
      expect(rejected.code).to.equal(2);
      expect(rejected.stderr).to.match(/did not accept the credential .*check PORTCULLIS_TOKEN/);
      expect(rejected.stderr).not.to.contain(rotatedSecret);
    });

    it('keys create makes another key with the secret shown once', async () => {
      const result = await cli(['keys', 'create', '--service', 'embed', '--name', 'laptop', '--json'], user);
      expect(result.code, result.stderr).to.equal(0);
      const doc = JSON.parse(result.stdout);
      expect(doc.key).to.match(SECRET);
      expect(doc).to.include({ name: 'laptop' });
      expect(doc.services).to.deep.equal(['embed']);
    });

    it('exit codes: unknown service 3, foreign key id 3, admin-only listing 2', async () => {
      const unknown = await cli(['init', 'no-such-service'], user);
      expect(unknown.code).to.equal(3);
      expect(unknown.stderr).to.match(/^portcullis: .*no-such-service/);

      const adminKeyId = (await adminCall('GET', '/v1/keys?limit=200')).items.find((k: { consumer_id: string }) => k.consumer_id === 'ci-bot')?.id ?? 'key_nope';
      expect((await cli(['keys', 'revoke', adminKeyId], user)).code).to.equal(3);

      const forbidden = await cli(['keys', 'list', '--all'], user);
      expect(forbidden.code).to.equal(2);
      expect(forbidden.stderr).to.match(/^portcullis: Not allowed/);
      const asAdmin = await cli(['keys', 'list', '--all', '--json'], admin);
      expect(asAdmin.code, asAdmin.stderr).to.equal(0);
      expect(JSON.parse(asAdmin.stdout).items.length).to.be.at.least(2);
    });

    it('logout ends the session: commands then say "not logged in" (exit 2)', async () => {
      expect((await cli(['logout'], user)).code).to.equal(0);
      const after = await cli(['services'], user);
      expect(after.code).to.equal(2);
      expect(after.stderr).to.equal('portcullis: Not logged in; run `portcullis login` (or set PORTCULLIS_TOKEN).\n');
    });

    it('a session ended at the provider makes the next command ask for a new login (exit 2)', async () => {
      const login = await cli(['login', '--password', '--username', 'bob'], { ...user, PORTCULLIS_PASSWORD: 'bob-password' });
      expect(login.code, login.stderr).to.equal(0);
      const refreshToken = await ageStoredLogin(user);
      const revoked = await fetch(`${idp.issuer}/token/revocation`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ token: refreshToken, token_type_hint: 'refresh_token', client_id: 'portcullis-cli' }).toString(),
      });
      expect(revoked.status).to.equal(200);
      const result = await cli(['services'], user);
      expect(result.code).to.equal(2);
      expect(result.stderr).to.equal(`portcullis: Your session at ${idp.issuer} has ended (invalid_grant); run \`portcullis login\` again.\n`);
    });
  });

  describe('health, config and an unreachable server', () => {
    it('health reports live and ready (exit 0)', async () => {
      const result = await cli(['health', '--json'], { HOME: dir, PORTCULLIS_CONFIG_DIR: path.join(dir, 'anon'), PORTCULLIS_URL: url });
      expect(result.code, result.stderr).to.equal(0);
      const doc = JSON.parse(result.stdout);
      expect(doc.ok).to.equal(true);
      expect(doc.probes.map((p: { probe: string; status: string }) => `${p.probe}:${p.status}`)).to.deep.equal(['live:ok', 'ready:ok']);
    });

    it('whoami with the bootstrap admin key: accepted, but no consumer behind it (exit 0)', async () => {
      const result = await cli(['whoami', '--json'], admin);
      expect(result.code, result.stderr).to.equal(0);
      expect(JSON.parse(result.stdout)).to.deep.include({ credential: { source: 'PORTCULLIS_TOKEN', kind: 'API key' }, me: null });
      const human = await cli(['whoami'], admin);
      expect(human.stdout).to.match(/^consumer:\s+none: the control plane accepts the credential but refuses self-service \(.*does not belong to a consumer/m);
      expect(human.stdout + human.stderr).not.to.contain(adminKey);
    });

    it('config shows each endpoint with its source, and never the token', async () => {
      const result = await cli(['config', '--issuer', 'http://idp.example/realms/x'], admin);
      expect(result.code, result.stderr).to.equal(0);
      expect(result.stdout).to.match(new RegExp(`^url\\s+${url.replace(/[.]/g, '\\.')}\\s+environment \\(PORTCULLIS_URL\\)$`, 'm'));
      expect(result.stdout).to.match(/^issuer\s+http:\/\/idp\.example\/realms\/x\s+flag \(--issuer\)$/m);
      expect(result.stdout).to.match(/^client_id\s+portcullis-cli\s+default$/m);
      expect(result.stdout).to.match(/^credential\s+PORTCULLIS_TOKEN \(set\)\s+environment \(PORTCULLIS_TOKEN\)$/m);
      expect(result.stdout).not.to.contain(adminKey);
    });

    it('an unreachable control plane is exit 5 with a sentence naming it', async () => {
      const port = await freePort();
      const result = await cli(['services', '--url', `http://127.0.0.1:${port}`], admin);
      expect(result.code).to.equal(5);
      expect(result.stderr).to.equal(`portcullis: Cannot reach the control plane at http://127.0.0.1:${port}: connection refused.\n`);
      const health = await cli(['health'], { ...admin, PORTCULLIS_URL: `http://127.0.0.1:${port}` });
      expect(health.code).to.equal(5);
    });
  });
});
