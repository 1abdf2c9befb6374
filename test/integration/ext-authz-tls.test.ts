/**
 * The ext_authz server over TLS, as Envoy would reach it through a cluster with a TLS transport socket: the
 * real authz-service started from its environment (PORTCULLIS_EXT_AUTHZ_TLS_*), called by a gRPC client
 * built from Envoy's official protos, with certificates made by openssl for this run. Every refusal has a
 * client with the right material next to it that gets an answer.
 */
import { expect } from 'chai';
import { status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { createExtAuthzClient, type ReceivedCheckResponse } from '../../authz-service/src/grpc/client.js';
import { EXT_AUTHZ_TLS_PREFIX } from '../../authz-service/src/grpc/config.js';
import type { CheckRequestMessage } from '../../authz-service/src/grpc/ext-authz-messages.js';
import { channelCredentials, clientTlsFromEnv, tlsEnvNames } from '../../authz-service/src/grpc/tls.js';
import type { AuthzServiceHandles } from '../../authz-service/src/main.js';
import { sampleState, type SampleKeys, startTestAuthz, writeStateFile } from '../harness/authz.js';
import { freePort } from '../harness/ports.js';
import { tlsFiles } from '../harness/tls.js';

const N = tlsEnvNames(EXT_AUTHZ_TLS_PREFIX);
const files = tlsFiles();

/** Envoy's side, in the same variable names a client reads (only the parsing is borrowed). */
const ENVOY = {
  plaintext: undefined,
  trusting: { [N.ca]: files.ca },
  trustingOtherCa: { [N.ca]: files.otherCa },
  withCert: { [N.ca]: files.ca, [N.cert]: files.client.cert, [N.key]: files.client.key },
  withOtherCaCert: { [N.ca]: files.ca, [N.cert]: files.otherClient.cert, [N.key]: files.otherClient.key },
} as const;

function checkRequest(headers: Record<string, string>): CheckRequestMessage {
  const path = '/llm/v1/chat';
  return {
    attributes: {
      source: { address: { socket_address: { address: '203.0.113.9', port_value: 51515 } } },
      request: {
        http: { method: 'POST', path, host: 'api.example.com', scheme: 'https', headers: { ':authority': 'api.example.com', ':path': path, ':method': 'POST', ...headers } },
      },
    },
  };
}

/** One Check from a fresh connection: the response, or the error the call ended with. */
async function check(port: number, envoy: Record<string, string> | undefined, headers: Record<string, string>): Promise<ReceivedCheckResponse | ServiceError> {
  let channel;
  if (envoy !== undefined) {
    const parsed = clientTlsFromEnv(envoy, EXT_AUTHZ_TLS_PREFIX);
    if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
    channel = channelCredentials(parsed.tls);
  }
  const client = createExtAuthzClient(`127.0.0.1:${port}`, { 'grpc.use_local_subchannel_pool': 1, ...channel?.options }, channel?.credentials);
  try {
    return await client.check(checkRequest(headers), 3_000);
  } catch (error) {
    return error as ServiceError;
  } finally {
    client.close();
  }
}

const grpcCode = (outcome: ReceivedCheckResponse | ServiceError) => ('status' in outcome && typeof outcome.status === 'object' ? `answer ${outcome.status.code}` : `error ${(outcome as ServiceError).code}`);
const ALLOWED = `answer ${GrpcStatus.OK}`;
const DENIED = `answer ${GrpcStatus.UNAUTHENTICATED}`;
const REFUSED = `error ${GrpcStatus.UNAVAILABLE}`;

describe('ext_authz over TLS (real service, Envoy’s protos)', function () {
  this.timeout(30_000);
  let keys: SampleKeys;
  const services: AuthzServiceHandles[] = [];

  async function start(tlsEnv: Record<string, string>): Promise<number> {
    const port = await freePort();
    const { state, keys: made } = sampleState();
    keys = made;
    services.push(await startTestAuthz({ PORTCULLIS_STATE_FILE: writeStateFile(state), PORTCULLIS_EXT_AUTHZ_PORT: String(port), PORTCULLIS_EXT_AUTHZ_HOST: '127.0.0.1', ...tlsEnv }));
    return port;
  }

  after(async () => {
    for (const service of services) await service.close();
  });

  describe('server certificate only', () => {
    let port: number;
    before(async () => (port = await start({ [N.cert]: files.server.cert, [N.key]: files.server.key })));

    it('answers a client that trusts the CA: allow with a key, deny without', async () => {
      expect(services.at(-1)!.config.extAuthz).to.have.property('tls');
      expect(grpcCode(await check(port, ENVOY.trusting, { 'x-api-key': keys.alice }))).to.equal(ALLOWED);
      expect(grpcCode(await check(port, ENVOY.trusting, {}))).to.equal(DENIED);
    });

    it('refuses plaintext, and a client that trusts another CA refuses it', async () => {
      expect(grpcCode(await check(port, ENVOY.plaintext, { 'x-api-key': keys.alice }))).to.equal(REFUSED);
      expect(grpcCode(await check(port, ENVOY.trustingOtherCa, { 'x-api-key': keys.alice }))).to.equal(REFUSED);
      expect(grpcCode(await check(port, ENVOY.trusting, { 'x-api-key': keys.alice })), 'still serving').to.equal(ALLOWED);
    });
  });

  describe('with a client CA (mutual TLS)', () => {
    let port: number;
    before(async () => (port = await start({ [N.cert]: files.server.cert, [N.key]: files.server.key, [N.clientCa]: files.ca })));

    it('refuses a client without a certificate, or with one the client CA did not sign', async () => {
      expect(grpcCode(await check(port, ENVOY.trusting, { 'x-api-key': keys.alice }))).to.equal(REFUSED);
      expect(grpcCode(await check(port, ENVOY.withOtherCaCert, { 'x-api-key': keys.alice }))).to.equal(REFUSED);
      expect(grpcCode(await check(port, ENVOY.plaintext, { 'x-api-key': keys.alice }))).to.equal(REFUSED);
    });

    it('answers a client with a certificate the client CA signed', async () => {
      expect(grpcCode(await check(port, ENVOY.withCert, { 'x-api-key': keys.alice }))).to.equal(ALLOWED);
      expect(grpcCode(await check(port, ENVOY.withCert, {}))).to.equal(DENIED);
    });
  });

  it('stays plaintext without TLS settings (the default)', async () => {
    const port = await start({});
    expect(grpcCode(await check(port, ENVOY.plaintext, { 'x-api-key': keys.alice }))).to.equal(ALLOWED);
    expect(grpcCode(await check(port, ENVOY.trusting, { 'x-api-key': keys.alice }))).to.equal(REFUSED);
  });
});
