/**
 * The transport-free request the decision core judges. Adapters (forwardAuth / auth_request over HTTP,
 * ext_authz over gRPC) build one of these and nothing else crosses into the core.
 */

export type Adapter = 'forward_auth' | 'ext_authz' | 'control_plane';

/** Lower-case header names → value. Repeated headers are joined with ", " as HTTP allows. */
export type HeaderMap = Readonly<Record<string, string | undefined>>;

export interface NormalizedRequest {
  /** Upper-case method of the original client request. */
  readonly method: string;
  readonly scheme: 'http' | 'https';
  /** Lower-case host, no port. */
  readonly host: string;
  /** Normalised path (dot segments resolved, unreserved escapes decoded), no query. */
  readonly path: string;
  /** Raw query string without the leading '?', '' when absent. */
  readonly query: string;
  readonly clientIp: string;
  readonly headers: HeaderMap;
  readonly adapter: Adapter;
  /** Envoy `context_extensions`; may select a service (`service`) or route (`route`) explicitly. */
  readonly contextExtensions?: Readonly<Record<string, string>>;
}

export type PathResult = { readonly ok: true; readonly path: string; readonly query: string } | { readonly ok: false; readonly reason: string };

const MAX_TARGET_LENGTH = 8192;

/**
 * Split a request target into a normalised path and raw query, refusing what a router and an upstream could
 * read differently (encoded slashes or backslashes, NUL, dot segments that climb above the root). Routing
 * decisions are only as safe as this function: "/v1/../admin" must be judged as "/admin".
 */
export function normalizeTarget(target: string): PathResult {
  if (target.length === 0) return { ok: true, path: '/', query: '' };
  if (target.length > MAX_TARGET_LENGTH) return { ok: false, reason: 'request target too long' };
  let rawPath = target;
  let query = '';
  const q = target.indexOf('?');
  if (q !== -1) {
    rawPath = target.slice(0, q);
    query = target.slice(q + 1);
  }
  const hash = query.indexOf('#');
  if (hash !== -1) query = query.slice(0, hash);
  const pathHash = rawPath.indexOf('#');
  if (pathHash !== -1) rawPath = rawPath.slice(0, pathHash);
  // absolute-form targets ("http://host/path") are legal from proxies
  if (!rawPath.startsWith('/')) {
    const schemeEnd = rawPath.indexOf('://');
    if (schemeEnd === -1) return { ok: false, reason: 'request target must start with /' };
    const slash = rawPath.indexOf('/', schemeEnd + 3);
    rawPath = slash === -1 ? '/' : rawPath.slice(slash);
  }
  // fast path: nothing to decode or resolve
  if (!/[%.\\\0]|\/\//.test(rawPath)) return { ok: true, path: rawPath, query };
  if (rawPath.includes('\\') || rawPath.includes('\0')) return { ok: false, reason: 'path contains a backslash or NUL' };
  if (/%2f|%5c|%00/i.test(rawPath)) return { ok: false, reason: 'path contains an encoded slash, backslash or NUL' };
  let decoded: string;
  try {
    // decode only unreserved characters so that reserved escapes keep their meaning for the upstream
    decoded = rawPath.replace(/%[0-9a-fA-F]{2}/g, (escape) => {
      const ch = String.fromCharCode(Number.parseInt(escape.slice(1), 16));
      return /[A-Za-z0-9\-._~]/.test(ch) ? ch : escape.toUpperCase();
    });
  } catch {
    return { ok: false, reason: 'path has invalid percent-encoding' };
  }
  if (/%(?![0-9A-F]{2})/i.test(decoded)) return { ok: false, reason: 'path has invalid percent-encoding' };
  const out: string[] = [];
  const segments = decoded.split('/');
  for (let i = 1; i < segments.length; i++) {
    const segment = segments[i]!;
    if (segment === '.' ) continue;
    if (segment === '..') {
      if (out.length === 0) return { ok: false, reason: 'path climbs above the root' };
      out.pop();
      continue;
    }
    if (segment === '' && i < segments.length - 1) continue; // collapse "//"
    out.push(segment);
  }
  const last = segments[segments.length - 1];
  let path = '/' + out.join('/');
  if ((last === '.' || last === '..') && path !== '/') path += '/';
  return { ok: true, path, query };
}

/** Returns the first value of a query parameter, or undefined; only called when a route allows query keys. */
export function queryParam(query: string, name: string): string | undefined {
  if (query === '') return undefined;
  const value = new URLSearchParams(query).get(name);
  return value === null ? undefined : value;
}

/** Lower-case host without port; IPv6 literals keep their brackets. */
export function normalizeHost(host: string | undefined): string {
  if (!host) return '';
  const h = host.trim().toLowerCase();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    return end === -1 ? h : h.slice(0, end + 1);
  }
  const colon = h.indexOf(':');
  return colon === -1 ? h : h.slice(0, colon);
}
