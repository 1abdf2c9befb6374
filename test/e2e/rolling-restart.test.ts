/**
 * A rolling restart of the data plane under steady load, on the compose topology with real processes
 * (test/harness/topology.ts): replica A gets SIGTERM, drains (unready first, still answering, every answer
 * closing its connection), exits, starts again and takes traffic; then replica B. nginx keeps asking the
 * other replica meanwhile (proxy_next_upstream in the rendered auth location). Not one request may fail.
 */
import { expect } from 'chai';
import { send } from '../harness/http.js';
import { waitFor } from '../harness/ports.js';
import { type Replica, Topology } from '../harness/topology.js';

const CLIENTS = 4;
/** Each client pauses this long between requests: a steady load, not a benchmark. */
const PAUSE_MS = 15;
/** Hard bounds, whatever happens to the restarts. */
const MAX_REQUESTS = 20_000;
const MAX_LOAD_MS = 90_000;
const DRAIN_MS = 1_500;

interface Failure {
  readonly phase: string;
  readonly what: string;
}

/** CLIENTS loops through nginx until stopped; every answer that is not a 200 is a failure. */
class SteadyLoad {
  phase = 'warm-up';
  readonly okByPhase = new Map<string, number>();
  readonly failures: Failure[] = [];
  total = 0;
  #stopped = false;
  readonly #done: Promise<void>;

  constructor(
    private readonly topology: Topology,
    private readonly key: string,
  ) {
    const started = Date.now();
    const client = async (n: number) => {
      for (let i = 0; !this.#stopped && this.total < MAX_REQUESTS && Date.now() - started < MAX_LOAD_MS; i++) {
        await this.#one(n + i);
        await new Promise((resolve) => setTimeout(resolve, PAUSE_MS));
      }
    };
    this.#done = Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n))).then(() => undefined);
  }

  /** Alternate the two calls the walkthrough makes: a model list and a chat completion. */
  async #one(i: number): Promise<void> {
    const phase = this.phase;
    this.total++;
    const headers = { authorization: `Bearer ${this.key}` };
    try {
      const res =
        i % 2 === 0
          ? await this.topology.gateway({ path: '/v1/models', headers })
          : await this.topology.gateway({
              method: 'POST',
              path: '/v1/chat/completions',
              headers: { ...headers, 'content-type': 'application/json' },
              body: JSON.stringify({ messages: [{ role: 'user', content: `request ${i}` }] }),
            });
      if (res.status === 200) this.okByPhase.set(phase, (this.okByPhase.get(phase) ?? 0) + 1);
      else this.failures.push({ phase, what: `${res.status} ${res.body.slice(0, 200)}` });
    } catch (error) {
      this.failures.push({ phase, what: `connection: ${(error as Error).message}` });
    }
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.#done;
  }
}

describe('e2e: rolling restart of the data plane behind nginx under steady load', function () {
  this.timeout(150_000);
  let topology: Topology;
  let key: string;

  before(async () => {
    topology = await Topology.start({ label: 'rolling', replicaEnv: { PORTCULLIS_SHUTDOWN_DRAIN_MS: String(DRAIN_MS), PORTCULLIS_SHUTDOWN_GRACE_MS: '5000' } });
    // the demo plan's 5 a minute would turn the load into 429s: this consumer has a plan of its own
    expect((await topology.admin('POST', '/v1/plans', { name: 'load', limits: [{ window: '1s', requests: 100_000 }] })).status).to.equal(201);
    const consumer = await topology.admin('POST', '/v1/consumers', { name: 'load-test', plan: 'load' });
    expect(consumer.status, consumer.text).to.equal(201);
    const created = await topology.admin('POST', '/v1/keys', { consumer_id: consumer.body.id, services: ['models'] });
    expect(created.status, created.text).to.equal(201);
    key = created.body.key;
    await topology.synced();
  });
  after(async () => {
    await topology?.stop();
  });

  /** SIGTERM, and while the process drains: unready, yet still deciding. Resolves once it has exited. */
  async function drainAndStop(replica: Replica): Promise<void> {
    const stopped = replica.process.stop();
    let readiness: { status: number; body: Record<string, unknown> } | undefined;
    await waitFor(
      async () => {
        const res = await send(replica.port, { path: '/readyz' });
        readiness = { status: res.status, body: res.json() };
        return res.status === 503;
      },
      `${replica.name} to report draining on /readyz (it must not stop accepting first)`,
      DRAIN_MS,
      20,
    );
    expect(readiness?.body).to.include({ status: 'draining' });
    await stopped;
  }

  /** Started again, ready, and nginx sends it requests again (it stops avoiding a failed server after fail_timeout). */
  async function restart(replica: Replica): Promise<void> {
    await replica.process.start();
    await waitFor(async () => (await topology.decisions(replica)) > 0, `nginx to send ${replica.name} traffic again`, 30_000, 100);
  }

  it('restarts replica A, then replica B, without one failed request', async () => {
    const started = Date.now();
    const load = new SteadyLoad(topology, key);
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      for (const replica of topology.replicas) {
        load.phase = `${replica.name} draining`;
        await drainAndStop(replica);
        load.phase = `${replica.name} down`;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        load.phase = `${replica.name} restarting`;
        await restart(replica);
      }
      load.phase = 'after';
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    } finally {
      await load.stop();
    }
    const seconds = (Date.now() - started) / 1000;
    const summary = `${load.total} requests in ${seconds.toFixed(1)} s; ok by phase: ${JSON.stringify(Object.fromEntries(load.okByPhase))}`;
    expect(load.failures.slice(0, 10), `${load.failures.length} failed of ${summary}`).to.deep.equal([]);
    // the load really ran through every phase, so the zero above means something
    for (const replica of topology.replicas) {
      for (const phase of ['draining', 'down', 'restarting']) expect(load.okByPhase.get(`${replica.name} ${phase}`) ?? 0, `${replica.name} ${phase}: ${summary}`).to.be.greaterThan(0);
    }
    expect(load.total, 'bounded').to.be.at.most(MAX_REQUESTS);
  });
});
