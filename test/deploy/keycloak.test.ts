/**
 * The Keycloak realm the compose stack imports, and the agreement between Keycloak's hostnames and the
 * issuer Portcullis trusts (the classic `iss` mismatch): public URL = KC_HOSTNAME = published port,
 * internal URL = alias and JWKS source.
 */
import { expect } from 'chai';
import { commandOf, envOf, loadCompose, portsOf } from './support/compose.js';
import { at, isObject, type JsonObject, readJson, readText, repoPath } from './support/files.js';
import { loadSeed } from './support/seed-document.js';

const REALM_FILE = repoPath('gateway-config/keycloak/realm-portcullis.json');
const realm = readJson(REALM_FILE) as JsonObject;
const clients = realm['clients'] as JsonObject[];
const users = realm['users'] as JsonObject[];
const client = (id: string): JsonObject => {
  const c = clients.find((x) => x['clientId'] === id);
  if (!c) throw new Error(`realm has no client ${id}`);
  return c;
};
const API_CLIENT = 'portcullis-api';
const CLI_CLIENT = 'portcullis-cli';

const compose = loadCompose();
const keycloak = compose.service('keycloak');
const kcEnv = envOf(keycloak);
const cpEnv = envOf(compose.service('control-plane'));

function audienceMappers(c: JsonObject): JsonObject[] {
  return ((c['protocolMappers'] as JsonObject[] | undefined) ?? []).filter((m) => m['protocolMapper'] === 'oidc-audience-mapper');
}

describe('deploy: Keycloak realm', () => {
  it('is one valid JSON realm named portcullis, enabled', () => {
    expect(realm['realm']).to.equal('portcullis');
    expect(realm['enabled']).to.equal(true);
  });

  it('is what the compose Keycloak imports at start', () => {
    const command = commandOf(keycloak);
    expect(command).to.include.members(['start-dev', '--import-realm']);
    const mount = (keycloak['volumes'] as string[]).find((v) => v.includes(':/opt/keycloak/data/import'));
    expect(mount).to.equal('./gateway-config/keycloak:/opt/keycloak/data/import:ro');
  });

  it('declares the admin role the control plane maps to administrators', () => {
    const roles = (at(realm, ['roles', 'realm']) as JsonObject[]).map((r) => r['name']);
    expect(roles).to.include('portcullis-admin');
    expect(cpEnv['PORTCULLIS_ADMIN_ROLE']).to.equal('portcullis-admin');
  });

  it('has a public CLI client with the OAuth 2.0 device authorization grant enabled', () => {
    const cli = client(CLI_CLIENT);
    expect(cli['enabled']).to.equal(true);
    expect(cli['publicClient']).to.equal(true);
    expect(at(cli, ['attributes', 'oauth2.device.authorization.grant.enabled'])).to.equal('true');
    expect(cli['implicitFlowEnabled']).to.equal(false);
  });

  it('has a confidential API client that signs nobody in', () => {
    const api = client(API_CLIENT);
    expect(api['publicClient']).to.equal(false);
    for (const flow of ['standardFlowEnabled', 'implicitFlowEnabled', 'directAccessGrantsEnabled']) expect(api[flow], flow).to.equal(false);
    expect(at(api, ['attributes', 'oauth2.device.authorization.grant.enabled'])).to.not.equal('true');
  });

  it('puts the API client in the access token’s aud for every client that obtains tokens', () => {
    for (const id of [CLI_CLIENT, API_CLIENT]) {
      const mappers = audienceMappers(client(id));
      expect(mappers, `${id} needs an audience mapper`).to.have.length.greaterThan(0);
      const forApi = mappers.filter((m) => at(m, ['config', 'included.client.audience']) === API_CLIENT);
      expect(forApi, id).to.have.length(1);
      expect(at(forApi[0], ['config', 'access.token.claim'])).to.equal('true');
    }
  });

  it('gives every client the basic scope, so tokens carry sub (Keycloak 25+)', () => {
    for (const c of clients) expect(c['defaultClientScopes'], String(c['clientId'])).to.include('basic');
    const scopes = realm['clientScopes'];
    if (scopes === undefined) return; // Keycloak then creates its default scopes, basic included
    const basic = (scopes as JsonObject[]).find((s) => s['name'] === 'basic');
    expect(basic, 'a realm that lists its scopes must define basic').to.not.equal(undefined);
    expect((basic!['protocolMappers'] as JsonObject[]).map((m) => m['protocolMapper'])).to.include('oidc-sub-mapper');
  });

  it('has two demo users who can sign in without setup: alice (admin) and bob (not)', () => {
    const byName = new Map(users.map((u) => [u['username'], u]));
    expect([...byName.keys()]).to.include.members(['alice', 'bob']);
    for (const u of users) {
      expect(u['enabled'], String(u['username'])).to.equal(true);
      for (const field of ['email', 'firstName', 'lastName']) expect(u[field], `${u['username']}.${field} (user profile)`).to.be.a('string').that.is.not.empty;
      expect(u['requiredActions'] ?? []).to.deep.equal([]);
      const creds = u['credentials'] as JsonObject[];
      expect(creds.some((c) => c['type'] === 'password' && c['temporary'] === false && typeof c['value'] === 'string')).to.equal(true);
    }
    expect(byName.get('alice')!['realmRoles']).to.include('portcullis-admin');
    expect((byName.get('bob')!['realmRoles'] as string[] | undefined) ?? []).not.to.include('portcullis-admin');
  });

  it('matches what the walkthrough tells people to type (client, users, passwords)', () => {
    const readme = readText(repoPath('gateway-config/README.md'));
    expect(readme).to.include(`client_id=${CLI_CLIENT}`);
    for (const u of users) {
      expect(readme).to.include(String(u['username']));
      const password = (u['credentials'] as JsonObject[])[0]!['value'];
      expect(readme, `${u['username']}’s password`).to.include(String(password));
    }
    expect(readme).to.include(`/realms/${realm['realm']}/protocol/openid-connect`);
  });

  describe('hostnames agree with the issuer Portcullis trusts', () => {
    const internalPort = kcEnv['KC_HTTP_PORT'] ?? '8080';
    const issuers = loadSeed().issuers;

    it('KC_HOSTNAME is the public URL, on the port compose publishes, with dynamic back-channel URLs', () => {
      const publicUrl = new URL(kcEnv['KC_HOSTNAME']!);
      expect(publicUrl.hostname).to.equal('localhost');
      const published = portsOf(keycloak).find((p) => p.container === Number(internalPort));
      expect(published, `Keycloak's port ${internalPort} is published`).to.not.equal(undefined);
      expect(publicUrl.port).to.equal(String(published!.host));
      expect(kcEnv['KC_HOSTNAME_BACKCHANNEL_DYNAMIC']).to.equal('true');
    });

    it('the Portcullis issuer is the realm’s public URL, with the internal URL as alias and the JWKS fetched internally', () => {
      const expectedIssuer = `${kcEnv['KC_HOSTNAME']}/realms/${realm['realm']}`;
      const internal = `http://keycloak:${internalPort}/realms/${realm['realm']}`;
      const issuer = issuers.find((i) => i['issuer'] === expectedIssuer);
      expect(issuer, `an issuer ${expectedIssuer}`).to.not.equal(undefined);
      expect(issuer!['aliases']).to.include(internal);
      // Discovery from the public URL would resolve localhost to the data plane's own container.
      expect(issuer!['jwks_uri']).to.equal(`${internal}/protocol/openid-connect/certs`);
      expect(issuer!['audiences']).to.deep.equal([API_CLIENT]);
    });

    it('Keycloak’s health check reads the management port that KC_HEALTH_ENABLED opens', () => {
      expect(kcEnv['KC_HEALTH_ENABLED']).to.equal('true');
      const test = (keycloak['healthcheck'] as JsonObject)['test'] as string[];
      expect(test.join(' ')).to.match(/\/dev\/tcp\/127\.0\.0\.1\/9000/).and.match(/\/health\/ready/);
    });

    it('every issuer in the compose configuration points at this realm', () => {
      expect(issuers.length).to.be.greaterThan(0);
      for (const i of issuers) expect(isObject(i) && String(i['issuer']).endsWith(`/realms/${realm['realm']}`)).to.equal(true);
    });
  });
});
