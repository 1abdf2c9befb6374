/**
 * The real authz-service in-process for cross-component tests and the benchmark: a DB-less state file with
 * API keys hashed by the real KeyHasher, started through the same composition root production uses.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { type AuthzConfig, parseAuthzConfig } from '../../authz-service/src/config.js';
import { generateApiKey, KeyHasher } from '../../authz-service/src/credentials/api-key/format.js';
import { type AuthzServiceHandles, type StartOptions, startAuthzService } from '../../authz-service/src/main.js';
import type { StateInput } from '../../authz-service/src/state/schema.js';
import { keyEntry } from '../../authz-service/src/tools/hash-key.js';

export const TEST_PEPPER = 'portcullis-test-pepper-0123456789abcdef';

export interface SampleKeys {
  /** Plan "standard" (generous), scope "chat", service llm only. */
  readonly alice: string;
  /** Plan "tiny": 2 requests per minute. */
  readonly bob: string;
  /** Valid key restricted to another service. */
  readonly restricted: string;
  /** Valid key without the "chat" scope. */
  readonly noScope: string;
}

export interface SampleStateOptions {
  /** A JWT issuer to trust (its URL); tokens' `sub` become auto consumers on plan "standard". */
  readonly issuer?: string;
  /** Requests per second of plan "standard". Default 1000. */
  readonly standardPerSecond?: number;
  readonly failMode?: 'open' | 'closed';
}

/**
 * Service `llm` at /llm (API keys and JWTs; route `chat` needs scope "chat", `models` is public) and
 * service `other` at /other, with the keys above.
 */
export function sampleState(options: SampleStateOptions = {}, hasher = new KeyHasher(TEST_PEPPER)): { state: StateInput; keys: SampleKeys } {
  const keys: SampleKeys = { alice: generateApiKey().key, bob: generateApiKey().key, restricted: generateApiKey().key, noScope: generateApiKey('acme').key };
  const state: StateInput = {
    revision: 1,
    plans: [
      { name: 'standard', limits: [{ window: '1s', requests: options.standardPerSecond ?? 1000 }] },
      { name: 'tiny', limits: [{ window: '1m', requests: 2 }] },
    ],
    issuers: options.issuer ? [{ issuer: options.issuer, audiences: [], authorized_parties: [] }] : [],
    services: [
      {
        name: 'llm',
        upstream_urls: ['http://127.0.0.1:9'],
        match: { path_prefix: '/llm' },
        plan: 'standard',
        query_key: 'user_key',
        fail_mode: options.failMode ?? 'open',
        routes: [
          { name: 'chat', path_prefix: '/llm/v1/chat', scopes: ['chat'] },
          { name: 'models', path_prefix: '/llm/v1/models', public: true },
        ],
      },
      { name: 'other', upstream_urls: ['http://127.0.0.1:9'], match: { path_prefix: '/other' } },
    ],
    consumers: [
      { id: 'alice', name: 'Alice', plan: 'standard' },
      { id: 'bob', name: 'Bob', plan: 'tiny' },
      { id: 'carol', name: 'Carol' },
    ],
    keys: [
      keyEntry({ key: keys.alice, id: 'alice-1', consumerId: 'alice', scopes: ['chat'], services: ['llm'] }, hasher),
      keyEntry({ key: keys.bob, id: 'bob-1', consumerId: 'bob', scopes: ['chat'] }, hasher),
      keyEntry({ key: keys.restricted, id: 'carol-other', consumerId: 'carol', scopes: ['chat'], services: ['other'] }, hasher),
      keyEntry({ key: keys.noScope, id: 'carol-1', consumerId: 'carol' }, hasher),
    ],
  };
  return { state, keys };
}

/** Write a state as YAML into a fresh temp directory; returns the file path. */
export function writeStateFile(state: StateInput, dir = mkdtempSync(join(tmpdir(), 'pc-authz-'))): string {
  const path = join(dir, 'state.yaml');
  writeFileSync(path, stringify(state));
  return path;
}

/** Config for a test instance: loopback, a free port, the test pepper, silent logs; env overrides win. */
export function testConfig(env: Record<string, string> = {}): AuthzConfig {
  const parsed = parseAuthzConfig({
    PORTCULLIS_AUTHZ_PORT: '0',
    PORTCULLIS_AUTHZ_HOST: '127.0.0.1',
    PORTCULLIS_KEY_PEPPER: TEST_PEPPER,
    PORTCULLIS_LOG_LEVEL: 'silent',
    PORTCULLIS_SHUTDOWN_GRACE_MS: '500',
    // tests never bind fixed ports: gRPC only when a test passes a free one
    PORTCULLIS_EXT_AUTHZ_PORT: 'off',
    ...env,
  });
  if (!parsed.ok) throw new Error(parsed.errors.join('\n'));
  return parsed.config;
}

export function startTestAuthz(env: Record<string, string> = {}, options: StartOptions = {}): Promise<AuthzServiceHandles> {
  return startAuthzService(testConfig(env), { defaultMetrics: false, ...options });
}
