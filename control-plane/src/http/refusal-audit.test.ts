/**
 * Failed and refused requests are audited without letting a client grow audit_log at its request rate: per
 * caller (actor, else address), action, status and code, the first attempt is a row at once and the repeats
 * within the window become one summary row. Windows are moved with the harness clock, not by sleeping.
 */
import { assert } from 'chai';
import { AuditEntrySchema } from '../api/audit.js';
import { openDatabase } from '../db/connection.js';
import { DEFAULT_REFUSAL_WINDOW_MS } from '../services/refusal-coalescer.js';
import { forEachBackend, startHarness, type Harness, type Reply } from '../testing/harness.js';

const MAX_KEYS = 5;
const BAD_TOKEN = 'not-a-key-or-a-jwt';

interface AuditRow {
  id: string | number;
  at: Date | string;
  actor_kind: string;
  actor_id: string;
  action: string;
  resource_id: string | null;
  outcome: string;
  status: number;
  code: string | null;
  request_id: string;
  ip: string | null;
  change: { repeated: number; first_at: string; last_at: string; overflow?: boolean } | null;
}

/** A refused attempt from the client at `ip` (the harness is a trusted loopback proxy for X-Forwarded-For). */
function from(ip: string, token: string | null = BAD_TOKEN) {
  return { token, headers: { 'x-forwarded-for': ip }, body: {} };
}

async function rows(h: Harness, where: Partial<Record<keyof AuditRow, string | number>>): Promise<AuditRow[]> {
  return (await h.cp.db('audit_log').where(where).orderBy('id')) as AuditRow[];
}

async function repeat(times: number, send: () => Promise<Reply>, status: number): Promise<Reply[]> {
  const replies: Reply[] = [];
  for (let i = 0; i < times; i++) {
    const reply = await send();
    assert.equal(reply.status, status, reply.text);
    replies.push(reply);
  }
  return replies;
}

function requestId(reply: Reply): string {
  return reply.headers.get('x-request-id')!;
}

/** Closes every open window, so each test starts with none tracked. */
async function closeAllWindows(h: Harness): Promise<void> {
  h.clock.advance(DEFAULT_REFUSAL_WINDOW_MS + 1);
  await h.cp.refusals.flushExpired();
}

function refusedCount(metrics: string, labels: Record<string, string>): number {
  const line = metrics
    .split('\n')
    .find((l) => l.startsWith('portcullis_control_plane_refused_requests_total{') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

forEachBackend(
  'refusal audit',
  (harness) => {
    afterEach(async () => closeAllWindows(harness()));

    it('writes one row for the first of 50 bad-token attempts, and one summary of the 49 repeats once the window closes', async () => {
      const h = harness();
      const ip = '203.0.113.10';
      const replies = await repeat(50, () => h.call('POST', '/v1/plans', from(ip)), 401);

      const immediate = await rows(h, { ip });
      assert.lengthOf(immediate, 1);
      assert.include(immediate[0], { action: 'createPlan', outcome: 'denied', status: 401, code: 'invalid_token', actor_id: 'anonymous', request_id: requestId(replies[0]!) });
      assert.isNull(immediate[0]!.change);

      await h.cp.refusals.flushExpired();
      assert.lengthOf(await rows(h, { ip }), 1, 'the window is still open: nothing more yet');

      h.clock.advance(DEFAULT_REFUSAL_WINDOW_MS);
      await h.cp.refusals.flushExpired();
      const all = await rows(h, { ip });
      assert.lengthOf(all, 2);
      const summary = all[1]!;
      assert.include(summary, { action: 'createPlan', outcome: 'denied', status: 401, code: 'invalid_token', actor_id: 'anonymous', request_id: requestId(replies[49]!) });
      assert.equal(summary.change!.repeated, 49);
      assert.isAtMost(Date.parse(summary.change!.first_at), Date.parse(summary.change!.last_at));
      assert.isAtLeast(Date.parse(summary.change!.first_at), new Date(immediate[0]!.at).getTime());
      assert.equal(new Date(summary.at).toISOString(), summary.change!.last_at);

      // the audit API serves it, valid by the documented schema
      const listed = await h.call('GET', '/v1/audit?action=createPlan&actor_id=anonymous&outcome=denied');
      assert.equal(listed.status, 200, listed.text);
      const served = listed.body.items.find((e: { id: string }) => e.id === String(summary.id));
      assert.deepEqual(AuditEntrySchema.parse(served).change, summary.change);
    });

    it('writes the summary of a closed window when the same client comes back, whose attempt opens a new window', async () => {
      const h = harness();
      const ip = '203.0.113.11';
      await repeat(3, () => h.call('POST', '/v1/plans', from(ip)), 401);
      h.clock.advance(DEFAULT_REFUSAL_WINDOW_MS);
      const next = await h.call('POST', '/v1/plans', from(ip));
      // the periodic sweep may have written the summary meanwhile; this waits for any write under way
      await h.cp.refusals.flushExpired();
      const all = await rows(h, { ip });
      assert.lengthOf(all, 3);
      assert.deepEqual(
        all.map((r) => r.change?.repeated ?? null),
        [null, 2, null],
      );
      assert.equal(all[2]!.request_id, requestId(next), 'the attempt after the window is a first again, written at once');
    });

    it('keeps clients and codes apart', async () => {
      const h = harness();
      const [a, b] = ['198.51.100.1', '198.51.100.2'];
      await repeat(3, () => h.call('POST', '/v1/consumers', from(a)), 401);
      await repeat(4, () => h.call('POST', '/v1/consumers', from(a, null)), 401);
      await repeat(5, () => h.call('POST', '/v1/consumers', from(b)), 401);
      const codes = async (ip: string) => (await rows(h, { ip })).map((r) => [r.code, r.change?.repeated ?? null]);
      assert.deepEqual(await codes(a), [
        ['invalid_token', null],
        ['missing_credential', null],
      ]);
      assert.deepEqual(await codes(b), [['invalid_token', null]]);

      await closeAllWindows(h);
      assert.sameDeepMembers(await codes(a), [
        ['invalid_token', null],
        ['missing_credential', null],
        ['invalid_token', 2],
        ['missing_credential', 3],
      ]);
      assert.deepEqual(await codes(b), [
        ['invalid_token', null],
        ['invalid_token', 4],
      ]);
    });

    it("coalesces an authenticated actor's refusals by actor, whatever the address: a non-admin's 403 and an admin's failed mutation", async () => {
      const h = harness();
      const consumer = await h.call('POST', '/v1/consumers', { body: { name: 'refused-user' } });
      const key = await h.call('POST', '/v1/keys', { body: { consumer_id: consumer.body.id, services: [] } });
      assert.equal(key.status, 201, key.text);
      assert.lengthOf(await rows(h, { request_id: requestId(key), outcome: 'success' }), 1, 'a successful mutation is audited as before');

      const user = `key:${key.body.id}`;
      const ips = ['192.0.2.1', '192.0.2.2', '192.0.2.3'];
      const denied = await Promise.all(ips.map((ip) => h.call('POST', '/v1/plans', from(ip, key.body.key))));
      assert.deepEqual(
        denied.map((r) => r.status),
        [403, 403, 403],
      );
      assert.lengthOf(await rows(h, { actor_id: user }), 1);

      const admin = (await rows(h, { request_id: requestId(key) }))[0]!.actor_id;
      const failed = await repeat(3, () => h.call('POST', '/v1/keys', { body: { consumer_id: 'con_nope', services: [] } }), 400);
      const adminFailures = () => rows(h, { actor_id: admin, action: 'createKey', outcome: 'failed' });
      assert.lengthOf(await adminFailures(), 1);
      assert.include((await adminFailures())[0], { status: 400, code: 'validation_failed', request_id: requestId(failed[0]!) });

      await closeAllWindows(h);
      const userRows = await rows(h, { actor_id: user });
      assert.lengthOf(userRows, 2);
      assert.include(userRows[1], { action: 'createPlan', outcome: 'denied', status: 403, code: 'forbidden' });
      assert.equal(userRows[1]!.change!.repeated, 2);
      const adminRows = await adminFailures();
      assert.lengthOf(adminRows, 2);
      assert.include(adminRows[1], { status: 400, code: 'validation_failed', request_id: requestId(failed[2]!) });
      assert.equal(adminRows[1]!.change!.repeated, 2);
    });

    it('names the resource in a summary only when every repeat named the same one', async () => {
      const h = harness();
      const ip = '198.51.100.20';
      await repeat(3, () => h.call('POST', '/v1/keys/key_same/revoke', from(ip)), 401);
      await repeat(3, () => h.call('PATCH', `/v1/keys/key_${Math.random().toString(36).slice(2)}`, from(ip)), 401);
      await closeAllWindows(h);
      const summaries = (await rows(h, { ip })).filter((r) => r.change !== null);
      assert.sameDeepMembers(
        summaries.map((r) => [r.action, r.resource_id]),
        [
          ['revokeKey', 'key_same'],
          ['updateKey', null],
        ],
      );
    });

    it(`tracks at most ${MAX_KEYS} callers: the ones beyond share an overflow key per action, status and code`, async () => {
      const h = harness();
      const ips = Array.from({ length: 12 }, (_, i) => `10.99.0.${i + 1}`);
      for (const ip of ips) assert.equal((await h.call('POST', '/v1/services', from(ip))).status, 401);
      await repeat(2, () => h.call('POST', '/v1/services', from(ips[0]!)), 401);
      assert.deepEqual(h.cp.refusals.tracked, { callers: MAX_KEYS, overflow: 1 });

      const firsts = await rows(h, { action: 'createService' });
      // the first five callers' own keys, and the overflow key's first attempt (the sixth caller)
      assert.deepEqual(
        firsts.map((r) => r.ip),
        ips.slice(0, MAX_KEYS + 1),
      );

      await closeAllWindows(h);
      assert.deepEqual(h.cp.refusals.tracked, { callers: 0, overflow: 0 });
      const summaries = (await rows(h, { action: 'createService' })).filter((r) => r.change !== null);
      assert.sameDeepMembers(
        summaries.map((r) => [r.actor_kind, r.actor_id, r.ip, r.change!.repeated, r.change!.overflow ?? false]),
        [
          ['anonymous', 'anonymous', ips[0], 2, false],
          ['various', 'various', null, ips.length - MAX_KEYS - 1, true],
        ],
      );
    });

    it('counts every refused attempt in a metric without caller labels', async () => {
      const h = harness();
      const labels = { action: 'deletePlan', status: '401', code: 'invalid_token' };
      const before = refusedCount((await h.call('GET', '/metrics', { token: null })).text, labels);
      await repeat(7, () => h.call('DELETE', '/v1/plans/whatever', from('198.51.100.77')), 401);
      const metrics = (await h.call('GET', '/metrics', { token: null })).text;
      assert.equal(refusedCount(metrics, labels) - before, 7);
      const series = metrics.split('\n').filter((l) => l.startsWith('portcullis_control_plane_refused_requests_total{'));
      assert.isNotEmpty(series);
      for (const line of series) assert.match(line, /^portcullis_control_plane_refused_requests_total\{action="\w+",status="\d{3}",code="\w+"\} \d+$/);
      assert.notInclude(metrics, '198.51.100.77');
    });

    it('writes the pending summaries on a graceful shutdown', async () => {
      const own = await startHarness(harness().backend, 'refusal_close');
      try {
        const ip = '203.0.113.99';
        await repeat(4, () => own.call('POST', '/v1/plans', from(ip)), 401);
        await own.cp.close(1000);
        const db = await openDatabase(own.config.database);
        try {
          const all = (await db('audit_log').where({ ip }).orderBy('id')) as AuditRow[];
          assert.deepEqual(
            all.map((r) => r.change?.repeated ?? null),
            [null, 3],
          );
        } finally {
          await db.destroy();
        }
      } finally {
        await own.close();
      }
    });
  },
  { refusalAudit: { maxKeys: MAX_KEYS } },
);
