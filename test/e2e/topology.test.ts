/**
 * The compose walkthrough (gateway-config/README.md) step by step, on the compose topology reproduced with
 * real processes (test/harness/topology.ts): control plane on Postgres, two authz-service replicas synced from
 * it and counting in one Redis, the sample model server, nginx in Traefik's place, a real OIDC issuer in
 * Keycloak's. Every call the README makes with curl is made here over HTTP, in the same order.
 */
import { expect } from 'chai';
import type { TestResponse } from '../harness/http.js';
import { Topology } from '../harness/topology.js';

/** What the sample upstream answers a chat completion with (gateway-config/sample-upstream/server.mjs). */
interface ChatCompletion {
  readonly model: string;
  readonly choices: readonly { readonly message: { readonly content: string } }[];
  readonly portcullis_identity: Readonly<Record<string, string>>;
}

const MODEL = 'portcullis-demo-mini';
const BOB_SUBJECT = 'b0b00000-0000-4000-8000-00000000b0b0';

describe('e2e: the compose walkthrough on real processes (nginx for Traefik, a test issuer for Keycloak)', function () {
  this.timeout(120_000);
  let topology: Topology;
  let token: string;
  let key: string;
  let keyId: string;
  let consumerId: string;

  before(async () => {
    topology = await Topology.start({ label: 'walkthrough' });
  });
  after(async () => {
    await topology?.stop();
  });

  const models = (credential?: string) => topology.gateway({ path: '/v1/models', headers: credential ? { authorization: `Bearer ${credential}` } : {} });
  const chat = (credential: string, content: string) =>
    topology.gateway({
      method: 'POST',
      path: '/v1/chat/completions',
      headers: { authorization: `Bearer ${credential}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: MODEL, messages: [{ role: 'user', content }] }),
    });
  const completion = (res: TestResponse): ChatCompletion => {
    expect(res.status, res.body).to.equal(200);
    return res.json<ChatCompletion>();
  };

  it('1. up: the seed job declared the demo plan, the issuer and the models service; no credential → 401 missing_credential', async () => {
    expect(topology.seedLog).to.match(/created\s+plans demo/);
    expect(topology.seedLog).to.match(/created\s+issuers http:\/\/127\.0\.0\.1:\d+\/realms\/portcullis/);
    expect(topology.seedLog).to.match(/created\s+services models/);
    const res = await models();
    expect(res.status).to.equal(401);
    expect(res.headers['content-type']).to.equal('application/problem+json');
    expect(res.headers['www-authenticate']).to.match(/^Bearer realm="portcullis"/);
    expect(res.json()).to.include({ code: 'missing_credential', status: 401 });
  });

  it('2. log in: a token from the issuer opens the gateway, and the model sees who called', async () => {
    token = await topology.userToken('bob', BOB_SUBJECT);
    const list = await models(token);
    expect(list.status, list.body).to.equal(200);
    expect(list.json<{ data: { id: string }[] }>().data.map((m) => m.id)).to.deep.equal([MODEL]);
    const seen = completion(await chat(token, 'hello from bob')).portcullis_identity;
    expect(seen).to.include({ 'x-portcullis-auth-method': 'jwt', 'x-portcullis-subject': BOB_SUBJECT, 'x-portcullis-name': 'bob' });
    expect(seen['x-portcullis-decision-id']).to.be.a('string').and.not.equal('');
    // a token for another API is not enough
    const foreign = await topology.issuer.keycloakAccessToken({ sub: BOB_SUBJECT, aud: 'account' });
    expect((await models(foreign)).status).to.equal(401);
  });

  it('3. get a key: with the admin key and the REST API, and as bob himself (self-service)', async () => {
    const consumer = await topology.admin('POST', '/v1/consumers', { name: 'bob' });
    expect(consumer.status, consumer.text).to.equal(201);
    consumerId = consumer.body.id;
    const created = await topology.admin('POST', '/v1/keys', { consumer_id: consumerId, services: ['models'] });
    expect(created.status, created.text).to.equal(201);
    expect(created.body.key).to.match(/^pc_/);
    ({ key, id: keyId } = created.body);

    // `portcullis init models` as bob: his token, his own consumer, his key for the models service
    const mine = await fetch(`${topology.controlPlaneUrl}/v1/me/services/models/key`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    const body = (await mine.json()) as { created: boolean; key: { key: string; id: string; services: string[]; consumer_id: string } };
    expect(mine.status, JSON.stringify(body)).to.equal(201);
    expect(body.created).to.equal(true);
    expect(body.key.services).to.deep.equal(['models']);
    expect(body.key.consumer_id).not.to.equal(consumerId);
    const again = await fetch(`${topology.controlPlaneUrl}/v1/me/services/models/key`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    expect(again.status, 'the same key, without its secret').to.equal(200);
    expect(await again.text()).not.to.contain(body.key.key);

    await topology.synced();
    const selfServed = completion(await chat(body.key.key, 'hello with my own key')).portcullis_identity;
    expect(selfServed).to.include({ 'x-portcullis-auth-method': 'api_key', 'x-portcullis-key-id': body.key.id, 'x-portcullis-consumer': body.key.consumer_id });
  });

  it('4. call the model through the gateway with the key: the answer shows the identity the model received', async () => {
    const answer = completion(await chat(key, 'hello'));
    expect(answer.model).to.equal(MODEL);
    expect(answer.choices[0]!.message.content).to.equal('You said: hello');
    expect(answer.portcullis_identity).to.include({
      'x-portcullis-auth-method': 'api_key',
      'x-portcullis-consumer': consumerId,
      'x-portcullis-key-id': keyId,
    });
    // the plan header names the plan that applied: bob has none of his own, so the service's demo plan
    expect(answer.portcullis_identity).to.include({ 'x-portcullis-plan': 'demo' });
    // the secret stays at the gateway
    expect(JSON.stringify(answer)).not.to.contain(key);
    // a caller cannot forge the identity headers
    const forged = completion(
      await topology.gateway({
        method: 'POST',
        path: '/v1/chat/completions',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json', 'x-portcullis-consumer': 'alice', 'x-portcullis-plan': 'unlimited' },
        body: JSON.stringify({ messages: [{ role: 'user', content: 'who am I' }] }),
      }),
    );
    expect(forged.portcullis_identity).to.include({ 'x-portcullis-consumer': consumerId });
    expect(forged.portcullis_identity).to.include({ 'x-portcullis-plan': 'demo' });
  });

  it('5. hit the limit: 5 requests a minute per consumer, counted across both replicas, then 429 with Retry-After', async () => {
    // steps 4 already spent two of bob's five
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) statuses.push((await models(key)).status);
    expect(statuses).to.deep.equal([200, 200, 200, 429, 429]);
    const limited = await models(key);
    expect(limited.status).to.equal(429);
    expect(Number(limited.headers['retry-after'])).to.be.within(1, 60);
    expect(limited.headers['ratelimit-policy']).to.be.a('string').and.contain('q=5');
    expect(limited.headers['content-type']).to.equal('application/problem+json');
    expect(limited.json()).to.include({ code: 'rate_limited', status: 429 });
    // both replicas took part in counting
    for (const replica of topology.replicas) expect(await topology.decisions(replica), replica.name).to.be.greaterThan(0);
  });

  it('6. revoke: through the REST API, and within a second the gateway answers 401 api_key_revoked whichever replica it asks', async () => {
    const revoked = await topology.admin('POST', `/v1/keys/${keyId}/revoke`, {});
    expect(revoked.status, revoked.text).to.equal(200);
    const lag = await topology.synced(5_000);
    expect(lag, 'both replicas applied the revocation').to.be.below(1_000);
    // round robin over two replicas: four calls ask each of them at least once
    for (let i = 0; i < 4; i++) {
      const res = await models(key);
      expect(res.status).to.equal(401);
      expect(res.json()).to.include({ code: 'api_key_revoked' });
    }
  });
});
