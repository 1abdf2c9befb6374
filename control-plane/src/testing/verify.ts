/**
 * Test support: judge a key the way the data plane will, by compiling the control plane's /v1/state
 * document and asking the shared ApiKeyResolver, at any instant. No validity rule is re-implemented here.
 */
import { assert } from 'chai';
import type { NormalizedRequest } from '../../../authz-service/src/core/request.js';
import { ApiKeyResolver } from '../../../authz-service/src/credentials/api-key/resolver.js';
import { compileState, type CompiledState } from '../../../authz-service/src/state/compile.js';
import type { Harness } from './harness.js';

export async function compiledState(h: Harness): Promise<CompiledState> {
  const reply = await h.call('GET', '/v1/state');
  assert.equal(reply.status, 200, reply.text);
  const result = compileState(reply.body);
  assert.isTrue(result.ok, result.ok ? '' : result.errors.join('\n'));
  if (!result.ok) throw new Error('unreachable');
  return result.state;
}

/** How the key is presented: as a bearer token (Portcullis keys) or in X-API-Key (any key, e.g. a 3scale user_key). */
export type KeyCarrier = 'authorization' | 'x-api-key';

function requestWith(key: string, carrier: KeyCarrier): NormalizedRequest {
  return {
    method: 'GET',
    scheme: 'https',
    host: 'api.example',
    path: '/',
    query: '',
    clientIp: '127.0.0.1',
    headers: carrier === 'authorization' ? { authorization: `Bearer ${key}` } : { 'x-api-key': key },
    adapter: 'forward_auth',
  };
}

/** 'resolved', or the rejection code, for `key` against the current state document at `nowMs`. */
export async function judgeKey(h: Harness, key: string, nowMs: number, serviceName: string, carrier: KeyCarrier = 'authorization'): Promise<string> {
  const state = await compiledState(h);
  const service = state.services.get(serviceName);
  assert.exists(service, `service ${serviceName} in the state document`);
  const outcome = await new ApiKeyResolver({ hasher: h.cp.hasher }).resolve(requestWith(key, carrier), { state, service: service!, now: nowMs });
  return outcome.kind === 'rejected' ? outcome.code : outcome.kind;
}

/** Every row of every table of the control plane's schema, as one string: for "is X stored anywhere". */
export async function dumpDatabase(h: Harness): Promise<string> {
  const tables = (await h.cp.db('information_schema.tables').where({ table_schema: 'public' }).pluck('table_name')) as string[];
  assert.isAbove(tables.length, 10);
  const dump: Record<string, unknown> = {};
  for (const table of tables) dump[table] = await h.cp.db(table).select('*');
  return JSON.stringify(dump);
}
