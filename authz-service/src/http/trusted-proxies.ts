/**
 * Which peers may tell us about the original request (X-Forwarded-*, X-Original-*). Runs for every request
 * (socket address) and for every X-Forwarded-For hop, so CIDRs are compiled once into integer masks and
 * addresses are parsed by hand: no regular expressions, no BigInt, no allocation on the IPv4 path.
 *
 * IPv4-mapped IPv6 addresses (`::ffff:10.1.2.3`, what a dual-stack socket reports for an IPv4 peer) are
 * matched as the IPv4 address they carry, in both addresses and CIDRs.
 */

/** Loopback and private ranges: where a sidecar or in-cluster gateway lives. */
export const DEFAULT_TRUSTED_PROXIES: readonly string[] = Object.freeze([
  '127.0.0.0/8',
  '::1/128',
  '10.0.0.0/8',
  '172.16.0.0/12',
  '192.168.0.0/16',
  'fc00::/7',
]);

/** A parsed address: IPv4 as one unsigned 32-bit number, IPv6 as four. */
export type ParsedIp = { readonly v: 4; readonly n: number } | { readonly v: 6; readonly w: readonly [number, number, number, number] };

/** Parse dotted-quad IPv4 text in [start, end) into an unsigned 32-bit number, or -1. */
function parseIpv4(s: string, start: number, end: number): number {
  let value = 0;
  let octet = 0;
  let digits = 0;
  let dots = 0;
  for (let i = start; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c >= 48 && c <= 57) {
      // leading zeros are refused: "010" is octal to some parsers and decimal to others
      if (digits > 0 && octet === 0) return -1;
      octet = octet * 10 + (c - 48);
      if (++digits > 3 || octet > 255) return -1;
    } else if (c === 46) {
      if (digits === 0 || ++dots > 3) return -1;
      value = value * 256 + octet;
      octet = 0;
      digits = 0;
    } else {
      return -1;
    }
  }
  if (dots !== 3 || digits === 0) return -1;
  return value * 256 + octet;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

/** Parse IPv6 text (with "::", an embedded IPv4 tail, an optional zone) into 8 groups, or undefined. */
function parseIpv6Groups(s: string): number[] | undefined {
  let end = s.length;
  const zone = s.indexOf('%');
  if (zone !== -1) end = zone;
  const groups: number[] = [];
  let gap = -1;
  let i = 0;
  if (end >= 2 && s.charCodeAt(0) === 58 && s.charCodeAt(1) === 58) {
    gap = 0;
    i = 2;
  } else if (end > 0 && s.charCodeAt(0) === 58) {
    return undefined;
  }
  while (i < end) {
    // an embedded IPv4 tail ("::ffff:1.2.3.4") is recognised by a dot before the next colon
    let j = i;
    let sawDot = false;
    while (j < end && s.charCodeAt(j) !== 58) {
      if (s.charCodeAt(j) === 46) sawDot = true;
      j++;
    }
    if (sawDot) {
      if (j !== end) return undefined;
      const v4 = parseIpv4(s, i, end);
      if (v4 < 0) return undefined;
      groups.push(Math.floor(v4 / 65536), v4 % 65536);
      i = end;
      break;
    }
    if (j === i || j - i > 4) return undefined;
    let group = 0;
    for (let k = i; k < j; k++) {
      const h = hexValue(s.charCodeAt(k));
      if (h < 0) return undefined;
      group = group * 16 + h;
    }
    groups.push(group);
    if (j === end) {
      i = end;
      break;
    }
    // j is at a colon; "::" marks the gap
    if (j + 1 < end && s.charCodeAt(j + 1) === 58) {
      if (gap !== -1) return undefined;
      gap = groups.length;
      i = j + 2;
    } else {
      if (j + 1 === end) return undefined;
      i = j + 1;
    }
  }
  if (gap === -1) return groups.length === 8 ? groups : undefined;
  if (groups.length > 7) return undefined;
  const fill = new Array<number>(8 - groups.length).fill(0);
  return [...groups.slice(0, gap), ...fill, ...groups.slice(gap)];
}

const isMappedV4 = (g: readonly number[]) =>
  g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff;

/** Parse an IP address (IPv4, IPv6, IPv6 in brackets); IPv4-mapped IPv6 becomes IPv4. */
export function parseIp(text: string): ParsedIp | undefined {
  let s = text;
  if (s.length === 0 || s.length > 64) return undefined;
  if (s.charCodeAt(0) === 91 /* [ */) {
    if (s.charCodeAt(s.length - 1) !== 93) return undefined;
    s = s.slice(1, -1);
  }
  if (s.indexOf(':') === -1) {
    const n = parseIpv4(s, 0, s.length);
    return n < 0 ? undefined : { v: 4, n };
  }
  const g = parseIpv6Groups(s);
  if (!g) return undefined;
  if (isMappedV4(g)) return { v: 4, n: g[6]! * 65536 + g[7]! };
  return { v: 6, w: [g[0]! * 65536 + g[1]!, g[2]! * 65536 + g[3]!, g[4]! * 65536 + g[5]!, g[6]! * 65536 + g[7]!] };
}

interface V4Range {
  readonly net: number;
  readonly mask: number;
}
interface V6Range {
  readonly net: readonly number[];
  readonly mask: readonly number[];
}

/** Mask of the top `bits` bits of a 32-bit word, as an unsigned number. */
function wordMask(bits: number): number {
  if (bits <= 0) return 0;
  if (bits >= 32) return 0xffffffff;
  return (0xffffffff << (32 - bits)) >>> 0;
}

export type CidrParse = { readonly ok: true; readonly cidr: string } | { readonly ok: false; readonly reason: string };

/** Validate one CIDR (a bare address means a single host). Used by config validation and the matcher. */
export function checkCidr(text: string): CidrParse {
  const slash = text.indexOf('/');
  const ip = parseIp(slash === -1 ? text : text.slice(0, slash));
  if (!ip) return { ok: false, reason: `"${text}" is not an IP address or CIDR` };
  if (slash === -1) return { ok: true, cidr: text };
  const bitsText = text.slice(slash + 1);
  const max = text.slice(0, slash).includes(':') ? 128 : 32;
  if (!/^\d{1,3}$/.test(bitsText) || Number(bitsText) > max) return { ok: false, reason: `"${text}" has an invalid prefix length` };
  return { ok: true, cidr: text };
}

/** A compiled set of CIDRs. `contains` is what the request path calls. */
export class TrustedProxies {
  readonly #v4: V4Range[] = [];
  readonly #v6: V6Range[] = [];
  readonly cidrs: readonly string[];

  /** Throws RangeError on an invalid CIDR: config validation reports them properly before this runs. */
  constructor(cidrs: readonly string[]) {
    this.cidrs = Object.freeze([...cidrs]);
    for (const cidr of cidrs) {
      const checked = checkCidr(cidr);
      if (!checked.ok) throw new RangeError(checked.reason);
      const slash = cidr.indexOf('/');
      const ip = parseIp(slash === -1 ? cidr : cidr.slice(0, slash))!;
      const textIsV6 = cidr.slice(0, slash === -1 ? cidr.length : slash).includes(':');
      let bits = slash === -1 ? (textIsV6 ? 128 : 32) : Number(cidr.slice(slash + 1));
      if (ip.v === 4) {
        // "::ffff:10.0.0.0/104" is 10.0.0.0/8
        if (textIsV6) bits = Math.max(0, bits - 96);
        const mask = wordMask(bits);
        this.#v4.push({ net: (ip.n & mask) >>> 0, mask });
      } else {
        const mask = [0, 1, 2, 3].map((i) => wordMask(bits - 32 * i));
        this.#v6.push({ net: ip.w.map((w, i) => (w & mask[i]!) >>> 0), mask });
      }
    }
  }

  /** True when `address` (socket address or an X-Forwarded-For entry) lies in one of the ranges. */
  contains(address: string | undefined): boolean {
    if (address === undefined) return false;
    const ip = parseIp(address);
    return ip !== undefined && this.containsParsed(ip);
  }

  containsParsed(ip: ParsedIp): boolean {
    if (ip.v === 4) {
      const n = ip.n;
      for (const r of this.#v4) if (((n & r.mask) >>> 0) === r.net) return true;
      return false;
    }
    const w = ip.w;
    for (const r of this.#v6) {
      if (
        ((w[0] & r.mask[0]!) >>> 0) === r.net[0] &&
        ((w[1] & r.mask[1]!) >>> 0) === r.net[1] &&
        ((w[2] & r.mask[2]!) >>> 0) === r.net[2] &&
        ((w[3] & r.mask[3]!) >>> 0) === r.net[3]
      ) {
        return true;
      }
    }
    return false;
  }
}
