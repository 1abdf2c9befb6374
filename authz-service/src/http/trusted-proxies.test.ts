import { expect } from 'chai';
import { checkCidr, DEFAULT_TRUSTED_PROXIES, parseIp, TrustedProxies } from './trusted-proxies.js';

describe('parseIp', () => {
  it('parses IPv4 and refuses near-misses', () => {
    expect(parseIp('10.1.2.3')).to.deep.equal({ v: 4, n: 0x0a010203 });
    expect(parseIp('255.255.255.255')).to.deep.equal({ v: 4, n: 0xffffffff });
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '256.1.1.1', '01.2.3.4', '1..2.3', '1.2.3.4 ', 'a.b.c.d', '1.2.3.']) {
      expect(parseIp(bad), bad).to.equal(undefined);
    }
  });

  it('parses IPv6 with gaps, zones, brackets and an IPv4 tail', () => {
    expect(parseIp('::1')).to.deep.equal({ v: 6, w: [0, 0, 0, 1] });
    expect(parseIp('::')).to.deep.equal({ v: 6, w: [0, 0, 0, 0] });
    expect(parseIp('[2001:db8::1]')).to.deep.equal({ v: 6, w: [0x20010db8, 0, 0, 1] });
    expect(parseIp('fe80::1%eth0')).to.deep.equal({ v: 6, w: [0xfe800000, 0, 0, 1] });
    expect(parseIp('1:2:3:4:5:6:7:8')).to.deep.equal({ v: 6, w: [0x10002, 0x30004, 0x50006, 0x70008] });
    expect(parseIp('64:ff9b::192.0.2.33')).to.deep.equal({ v: 6, w: [0x0064ff9b, 0, 0, 0xc0000221] });
    for (const bad of [':1', '1:', '1:::2', '1::2::3', '12345::', '1:2:3:4:5:6:7:8:9', 'g::1', '::1.2.3', '1:2:3:4:5:6:7::8:9']) {
      expect(parseIp(bad), bad).to.equal(undefined);
    }
  });

  it('treats IPv4-mapped IPv6 as the IPv4 address it carries', () => {
    expect(parseIp('::ffff:10.1.2.3')).to.deep.equal({ v: 4, n: 0x0a010203 });
    expect(parseIp('::ffff:a01:203')).to.deep.equal({ v: 4, n: 0x0a010203 });
  });
});

describe('TrustedProxies', () => {
  const defaults = new TrustedProxies(DEFAULT_TRUSTED_PROXIES);

  it('trusts loopback and private ranges by default, and nothing else', () => {
    for (const ip of ['127.0.0.1', '127.255.0.9', '::1', '10.200.3.4', '172.16.0.1', '172.31.255.255', '192.168.1.1', 'fd12::1', '::ffff:192.168.0.7']) {
      expect(defaults.contains(ip), ip).to.equal(true);
    }
    for (const ip of ['8.8.8.8', '172.32.0.1', '172.15.255.255', '192.169.0.1', '::2', '2001:db8::1', 'fe80::1', '11.0.0.1', '::ffff:8.8.8.8', 'garbage', '']) {
      expect(defaults.contains(ip), ip).to.equal(false);
    }
    expect(defaults.contains(undefined)).to.equal(false);
  });

  it('matches single hosts, odd prefix lengths and mapped CIDRs', () => {
    const t = new TrustedProxies(['127.0.0.1', '203.0.113.64/27', '2001:db8:abcd::/48', '::ffff:100.64.0.0/106']);
    expect(t.contains('127.0.0.1')).to.equal(true);
    expect(t.contains('127.0.0.2')).to.equal(false);
    expect(t.contains('203.0.113.64')).to.equal(true);
    expect(t.contains('203.0.113.95')).to.equal(true);
    expect(t.contains('203.0.113.96')).to.equal(false);
    expect(t.contains('2001:db8:abcd:ffff::1')).to.equal(true);
    expect(t.contains('2001:db8:abce::1')).to.equal(false);
    expect(t.contains('100.127.255.255')).to.equal(true);
    expect(t.contains('100.128.0.0')).to.equal(false);
  });

  it('handles /0 and full-length prefixes', () => {
    expect(new TrustedProxies(['0.0.0.0/0']).contains('8.8.8.8')).to.equal(true);
    expect(new TrustedProxies(['0.0.0.0/0']).contains('::2')).to.equal(false);
    expect(new TrustedProxies(['::/0']).contains('2001:db8::1')).to.equal(true);
    expect(new TrustedProxies(['2001:db8::7/128']).contains('2001:db8::7')).to.equal(true);
    expect(new TrustedProxies(['2001:db8::7/128']).contains('2001:db8::8')).to.equal(false);
  });

  it('rejects invalid CIDRs', () => {
    expect(checkCidr('10.0.0.0/33').ok).to.equal(false);
    expect(checkCidr('::/129').ok).to.equal(false);
    expect(checkCidr('10.0.0.0/x').ok).to.equal(false);
    expect(checkCidr('nope/8').ok).to.equal(false);
    expect(() => new TrustedProxies(['10.0.0.0/33'])).to.throw(RangeError);
  });
});
