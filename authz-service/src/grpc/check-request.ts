/**
 * CheckRequest → NormalizedRequest. Only translation happens here: whatever the request means is for the
 * decision core to judge.
 */
import { type HeaderMap, type NormalizedRequest, normalizeHost, normalizeTarget } from '../core/request.js';
import type { CheckRequestMessage } from './ext-authz-messages.js';

export type CheckRequestMapping =
  | { readonly ok: true; readonly request: NormalizedRequest }
  /** The request cannot be judged at all (no HTTP attributes, a target the router could read two ways). */
  | { readonly ok: false; readonly reason: string };

/**
 * Envoy sends lower-case names already, pseudo-headers (`:authority`, `:path` …) included, repeated headers
 * joined with ",". Names are lower-cased again because other ext_authz clients are less careful. The
 * pseudo-headers stay in the map: credential resolvers read named headers only, so they never take part in
 * an identity decision.
 */
function lowerCaseHeaders(headers: Readonly<Record<string, string>> | undefined): HeaderMap {
  const out: Record<string, string> = {};
  if (headers === undefined) return out;
  for (const name in headers) {
    const value = headers[name]!;
    const lower = name.toLowerCase();
    const previous = out[lower];
    out[lower] = previous === undefined ? value : `${previous}, ${value}`;
  }
  return out;
}

export function normalizeCheckRequest(check: CheckRequestMessage): CheckRequestMapping {
  const attributes = check.attributes;
  const http = attributes?.request?.http;
  if (http === undefined) return { ok: false, reason: 'the check request carries no HTTP attributes' };
  const headers = lowerCaseHeaders(http.headers);
  // `path` is the undecoded request target with its query; ":path" only if an older client left it empty
  const target = normalizeTarget(http.path || headers[':path'] || '');
  if (!target.ok) return { ok: false, reason: target.reason };
  const scheme = (http.scheme || headers[':scheme'] || 'http').toLowerCase();
  const contextExtensions = attributes?.context_extensions;
  const request: NormalizedRequest = {
    method: (http.method || headers[':method'] || 'GET').toUpperCase(),
    scheme: scheme === 'https' ? 'https' : 'http',
    host: normalizeHost(http.host || headers[':authority'] || headers['host']),
    path: target.path,
    query: target.query,
    // the downstream connection's address as Envoy sees it (not X-Forwarded-For): the client for an edge
    // Envoy, the previous proxy otherwise
    clientIp: attributes?.source?.address?.socket_address?.address ?? '',
    headers,
    adapter: 'ext_authz',
    ...(contextExtensions !== undefined && Object.keys(contextExtensions).length > 0 ? { contextExtensions } : {}),
  };
  return { ok: true, request };
}
