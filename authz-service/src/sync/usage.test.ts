import { expect } from 'chai';
import type { Decision, Principal } from '../core/decision.js';
import { createLogger } from '../observability/logger.js';
import type { WireUsageBatch } from './messages.js';
import { UsageCounter } from './usage-counter.js';
import { MAX_ENTRIES_PER_BATCH, UsageReporter } from './usage-reporter.js';

const principal = (keyId: string | undefined, consumerId: string, authMethod: Principal['authMethod'] = 'api_key'): Principal =>
  Object.freeze({ authMethod, subject: consumerId, consumerId, ...(keyId ? { keyId } : {}), scopes: new Set<string>(), roles: new Set<string>() });

const allow = (p: Principal, service = 'llm'): Decision => ({
  kind: 'allow',
  id: 'd',
  route: { service, route: 'default' },
  principal: p,
  upstreamHeaders: [],
  removeHeaders: [],
  removeQueryParams: [],
  responseHeaders: [],
});
const deny = (p: Principal | undefined, service = 'llm'): Decision => ({
  kind: 'deny',
  id: 'd',
  code: 'rate_limited',
  detail: '',
  headers: [],
  route: { service, route: 'default' },
  ...(p ? { principal: p } : {}),
});

const DAY = 86_400_000;
const logger = createLogger({ level: 'silent' });

describe('usage counting', () => {
  it('counts allowed and denied decisions per key, consumer, service and UTC day', () => {
    let now = Date.parse('2030-05-01T23:59:59.000Z');
    const counter = new UsageCounter(() => now);
    const k1 = principal('k1', 'alice');
    const k1Again = principal('k1', 'alice'); // another principal object for the same key (after a state swap)
    const jwt = principal(undefined, 'oidc_x', 'jwt');
    for (let i = 0; i < 3; i++) counter.record(allow(k1));
    counter.record(allow(k1Again));
    counter.record(deny(k1));
    counter.record(allow(k1, 'embed'));
    counter.record(allow(jwt));
    counter.record(allow(principal(undefined, 'ip:1.2.3.4', 'anonymous')));
    counter.record(deny(undefined));
    now += 2_000; // the next day
    counter.record(allow(k1));
    const entries = counter.drain().sort((a, b) => `${a.day}${a.service}${a.key_id}`.localeCompare(`${b.day}${b.service}${b.key_id}`));
    expect(entries).to.deep.equal([
      { key_id: 'k1', consumer_id: 'alice', service: 'embed', day: '2030-05-01', allowed: 1, denied: 0, last_used_ms: now - 2_000 },
      { key_id: '', consumer_id: 'oidc_x', service: 'llm', day: '2030-05-01', allowed: 1, denied: 0, last_used_ms: now - 2_000 },
      { key_id: 'k1', consumer_id: 'alice', service: 'llm', day: '2030-05-01', allowed: 4, denied: 1, last_used_ms: now - 2_000 },
      { key_id: 'k1', consumer_id: 'alice', service: 'llm', day: '2030-05-02', allowed: 1, denied: 0, last_used_ms: now },
    ]);
    expect(counter.drain(), 'drained').to.deep.equal([]);
    now += 3 * DAY;
    expect(counter.drain()).to.deep.equal([]);
  });

  it('retries a failed batch with the same id and content, and never merges newer counts into it', async () => {
    const counter = new UsageCounter();
    const k = principal('k1', 'alice');
    const attempts: WireUsageBatch[] = [];
    let up = false;
    const reporter = new UsageReporter({
      counter,
      replicaId: 'replica-a',
      intervalMs: 60_000,
      logger,
      send: async (batch) => {
        attempts.push(structuredClone(batch));
        if (!up) throw new Error('control plane away');
        return { batch_id: batch.batch_id, duplicate: false, accepted: batch.entries.length, skipped: 0 };
      },
    });
    for (let i = 0; i < 5; i++) counter.record(allow(k));
    await reporter.flush();
    expect(reporter.pending).to.equal(1);
    counter.record(allow(k));
    counter.record(allow(k));
    up = true;
    await reporter.flush();
    expect(reporter.pending).to.equal(0);
    expect(attempts.map((b) => [b.batch_id, b.entries.map((e) => e.allowed)])).to.deep.equal([
      [attempts[0]!.batch_id, [5]],
      [attempts[0]!.batch_id, [5]],
      [attempts[2]!.batch_id, [2]],
    ]);
    expect(attempts[2]!.batch_id).to.not.equal(attempts[0]!.batch_id);
    expect(attempts[0]!.batch_id).to.match(/^replica-a\./);
    await reporter.flush();
    expect(attempts, 'nothing new, nothing sent').to.have.length(3);
  });

  it('splits a large round into batches the control plane accepts', async () => {
    const counter = new UsageCounter();
    for (let i = 0; i < MAX_ENTRIES_PER_BATCH + 5; i++) counter.record(allow(principal(`k${i}`, 'c')));
    const sizes: number[] = [];
    const reporter = new UsageReporter({
      counter,
      replicaId: 'r',
      intervalMs: 60_000,
      logger,
      send: async (batch) => {
        sizes.push(batch.entries.length);
        return { batch_id: batch.batch_id, duplicate: false, accepted: 0, skipped: 0 };
      },
    });
    await reporter.close();
    expect(sizes).to.deep.equal([MAX_ENTRIES_PER_BATCH, 5]);
  });
});
