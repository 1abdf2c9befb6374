/**
 * Rebuild the original client request from a forwardAuth / auth_request call.
 *
 * - Traefik forwardAuth sends X-Forwarded-Method/-Proto/-Host/-Uri/-For (the auth request itself is a GET
 *   to our address, the original target travels in X-Forwarded-Uri).
 * - nginx auth_request sends what its config passes; Portcullis's rendered config sets X-Original-Method,
 *   X-Original-URI, X-Original-Host, X-Forwarded-For and X-Forwarded-Proto (the subrequest is always a GET).
 *
 * These headers are believed only from a trusted proxy. From anyone else they are ignored entirely and
 * the request is judged from its own request line, Host header and socket address, so a client that can
 * reach us directly cannot claim to be someone else or to be asking about another path.
 */
import type { IncomingHttpHeaders } from 'node:http';
import type { HeaderMap, NormalizedRequest } from '../core/request.js';
import { normalizeHost, normalizeTarget } from '../core/request.js';
import { parseIp, type TrustedProxies } from './trusted-proxies.js';

/** What forwarded.ts needs from a node request: testable without a socket. */
export interface ForwardAuthCall {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** The TCP peer. */
  readonly remoteAddress: string;
  /** Whether the TCP peer is a trusted proxy (computed once per connection by the server). */
  readonly peerTrusted: boolean;
}

export type ForwardedResult = { readonly ok: true; readonly request: NormalizedRequest } | { readonly ok: false; readonly reason: string };

/** First element of a possibly comma-joined header value (node joins repeated headers with ", "). */
function firstValue(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  const v = typeof value === 'string' ? value : value[0];
  if (v === undefined) return undefined;
  const comma = v.indexOf(',');
  const first = (comma === -1 ? v : v.slice(0, comma)).trim();
  return first === '' ? undefined : first;
}

function headerString(value: string | string[] | undefined): string | undefined {
  if (value === undefined) return undefined;
  return typeof value === 'string' ? value : value.join(', ');
}

/**
 * The client address behind a chain of proxies: walk X-Forwarded-For from the right, skipping hops that
 * are themselves trusted proxies; the first untrusted hop is the client. Entries further left were written
 * by the client and are never believed. A garbage entry stops the walk at the last hop we could verify.
 */
export function clientIpFromChain(xff: string, peer: string, trusted: TrustedProxies): string {
  let client = peer;
  let end = xff.length;
  while (end > 0) {
    const comma = xff.lastIndexOf(',', end - 1);
    const hop = xff.slice(comma + 1, end).trim();
    end = comma === -1 ? 0 : comma;
    if (hop === '') continue;
    const ip = parseIp(hop);
    if (ip === undefined) return client;
    client = hop.charCodeAt(0) === 91 ? hop.slice(1, -1) : hop;
    if (!trusted.containsParsed(ip)) return client;
  }
  return client;
}

/** Socket addresses of IPv4 peers on a dual-stack listener arrive as "::ffff:a.b.c.d". */
function plainAddress(address: string): string {
  return address.startsWith('::ffff:') && address.indexOf('.') !== -1 ? address.slice(7) : address;
}

const METHOD = /^[A-Za-z]{1,16}$/;

const CONFLICT = Symbol('conflict');

/** The value both header families give (either may be absent), or CONFLICT when they differ. */
function agreeing(nginx: string | undefined, traefik: string | undefined): string | undefined | typeof CONFLICT {
  if (nginx === undefined) return traefik;
  if (traefik === undefined || traefik === nginx) return nginx;
  return CONFLICT;
}

function scheme(value: string | undefined): 'http' | 'https' {
  return value !== undefined && value.toLowerCase() === 'https' ? 'https' : 'http';
}

export function normalizeForwardAuthCall(call: ForwardAuthCall, trusted: TrustedProxies): ForwardedResult {
  const h = call.headers;
  const peer = plainAddress(call.remoteAddress);
  let method: string;
  let target: string;
  let host: string | undefined;
  let proto: string | undefined;
  let clientIp = peer;

  if (call.peerTrusted) {
    // Each gateway sets its own family and passes the other one through from the client untouched
    // (Traefik never touches X-Original-*, a hand-written nginx config rarely blanks X-Forwarded-Uri). So
    // when both families are present they must agree: a client cannot steer us with the family its
    // gateway does not overwrite.
    const uri = agreeing(headerString(h['x-original-uri']), headerString(h['x-forwarded-uri']));
    const forwardedMethod = agreeing(firstValue(h['x-original-method']), firstValue(h['x-forwarded-method']));
    const forwardedHost = agreeing(firstValue(h['x-original-host']), firstValue(h['x-forwarded-host']));
    if (uri === CONFLICT || forwardedMethod === CONFLICT || forwardedHost === CONFLICT) {
      return { ok: false, reason: 'X-Original-* and X-Forwarded-* headers disagree about the original request' };
    }
    target = uri ?? call.url;
    method = forwardedMethod ?? call.method;
    host = forwardedHost ?? headerString(h.host);
    proto = firstValue(h['x-forwarded-proto']);
    const xff = headerString(h['x-forwarded-for']);
    if (xff !== undefined) {
      clientIp = clientIpFromChain(xff, peer, trusted);
    } else {
      const realIp = firstValue(h['x-real-ip']);
      if (realIp !== undefined && parseIp(realIp) !== undefined) clientIp = realIp;
    }
  } else {
    target = call.url;
    method = call.method;
    host = headerString(h.host);
  }

  if (!METHOD.test(method)) return { ok: false, reason: 'the request method is not a valid token' };
  const normalized = normalizeTarget(target);
  if (!normalized.ok) return { ok: false, reason: normalized.reason };
  return {
    ok: true,
    request: {
      method: method.toUpperCase(),
      scheme: scheme(proto),
      host: normalizeHost(host),
      path: normalized.path,
      query: normalized.query,
      clientIp,
      // node's header object already has lower-case names; only `set-cookie` can be an array, and a request
      // carrying one is not something any resolver reads
      headers: h as HeaderMap,
      adapter: 'forward_auth',
    },
  };
}
