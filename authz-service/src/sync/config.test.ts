import { expect } from 'chai';
import { Staleness } from './staleness.js';
import { syncConfigFromEnv } from './config.js';

describe('sync settings', () => {
  const base = { PORTCULLIS_SYNC_TARGET: 'control-plane:8282', PORTCULLIS_SYNC_TOKEN: 'a-token-of-enough-length' };

  it('is off without a target, whatever else the image sets', () => {
    expect(syncConfigFromEnv({ PORTCULLIS_SNAPSHOT_DIR: '/var/lib/portcullis/snapshot' })).to.deep.equal({ ok: true, config: undefined });
  });

  it('reads every setting, with defaults', () => {
    const parsed = syncConfigFromEnv({ ...base, PORTCULLIS_REPLICA_ID: 'authz-1' });
    if (!parsed.ok || !parsed.config) throw new Error('expected a config');
    expect(parsed.config).to.deep.include({ target: 'control-plane:8282', maxStalenessSeconds: 300, staleMode: 'serve', usageFlushSeconds: 5, replicaId: 'authz-1' });
    expect(parsed.config.token.reveal()).to.equal(base.PORTCULLIS_SYNC_TOKEN);
    expect(JSON.stringify(parsed.config)).to.not.include(base.PORTCULLIS_SYNC_TOKEN);
    const ipv6 = syncConfigFromEnv({ ...base, PORTCULLIS_SYNC_TARGET: '[::1]:8282', PORTCULLIS_STALE_MODE: 'refuse', PORTCULLIS_MAX_STALENESS_SECONDS: '30' });
    expect(ipv6.ok && ipv6.config).to.deep.include({ target: '[::1]:8282', staleMode: 'refuse', maxStalenessSeconds: 30 });
  });

  it('reports every problem at once, never the token', () => {
    const parsed = syncConfigFromEnv({
      PORTCULLIS_SYNC_TARGET: 'no-port',
      PORTCULLIS_SYNC_TOKEN: 'short',
      PORTCULLIS_STATE_FILE: '/etc/state.yaml',
      PORTCULLIS_STALE_MODE: 'maybe',
      PORTCULLIS_MAX_STALENESS_SECONDS: '-1',
      PORTCULLIS_USAGE_FLUSH_SECONDS: 'often',
    });
    if (parsed.ok) throw new Error('expected problems');
    expect(parsed.errors).to.have.length(6);
    expect(parsed.errors.join('\n')).to.not.include('short');
  });

  it('staleness counts from the last contact and refuses only in refuse mode', () => {
    let now = 1_000_000;
    const serve = new Staleness({ maxSeconds: 10, mode: 'serve', clock: () => now });
    const refuse = new Staleness({ maxSeconds: 10, mode: 'refuse', clock: () => now });
    expect(serve.seconds()).to.equal(undefined);
    expect(refuse.refuses(), 'never heard from: stale').to.equal(true);
    for (const s of [serve, refuse]) s.contact();
    now += 5_000;
    expect(refuse.seconds()).to.equal(5);
    expect(refuse.refuses()).to.equal(false);
    now += 6_000;
    expect(serve.isStale()).to.equal(true);
    expect(serve.refuses()).to.equal(false);
    expect(refuse.refuses()).to.equal(true);
    refuse.contact(now - 60_000);
    expect(refuse.seconds(), 'an older contact does not move the clock back').to.equal(11);
  });
});
