/**
 * The baselines every authz-service scenario is measured against, in the same run on the same core. All of
 * them receive exactly the requests the authz-service receives (the forwardAuth headers and the credential),
 * so the parsing of those bytes, which any server pays, is on both sides of every ratio.
 *
 * - bare (BARE_MODE unset): a node:http server answering like an allow (200, empty body, one header) without
 *   reading anything. The ratio the targets are stated in.
 * - framing floor (BARE_MODE=floor, BARE_ALLOW_HEADERS): node:http that reads the request's headers and writes
 *   exactly the allow headers Portcullis sends (captured from a live answer), and decides nothing. No
 *   authorization service built on node:http can beat it.
 * - minimal API-key check (BARE_MODE=minimal, BARE_API_KEY, BARE_PEPPER): what the shortest honest API-key
 *   gate on node:http does: HMAC-SHA256 of the key, one Map lookup, one fixed-window counter, two identity
 *   headers. No routes, scopes, trusted proxies, metrics or logs. It shows what any API-key check costs here,
 *   whoever writes it.
 */
import { createHmac } from 'node:crypto';
import { createServer, type RequestListener } from 'node:http';

const port = Number(process.env['PORT']);
const mode = process.env['BARE_MODE'] ?? 'bare';

const listeners: Record<string, () => RequestListener> = { bare, floor: framingFloor, minimal: minimalApiKeyCheck };
const listener = listeners[mode];
if (listener === undefined) throw new Error(`BARE_MODE must be one of ${Object.keys(listeners).join(', ')}`);
createServer(listener()).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));

function bare(): RequestListener {
  const headers = ['x-portcullis-subject', 'alice', 'content-length', '0'];
  return (_req, res) => {
    res.writeHead(200, headers);
    res.end();
  };
}

function framingFloor(): RequestListener {
  const headers = JSON.parse(process.env['BARE_ALLOW_HEADERS'] ?? '[]') as string[];
  let seen = 0;
  return (req, res) => {
    // what the adapter reads: the header object (materialised on first access) and the forwarded target
    const h = req.headers;
    seen += (h['x-forwarded-uri']?.length ?? 0) + (h['x-api-key']?.length ?? 0) + (h['authorization']?.length ?? 0);
    res.writeHead(200, seen >= 0 ? [...headers] : []);
    res.end();
  };
}

function minimalApiKeyCheck(): RequestListener {
  const pepper = process.env['BARE_PEPPER'] ?? '';
  const digest = (key: string) => createHmac('sha256', pepper).update(key).digest('hex');
  const owners = new Map([[digest(process.env['BARE_API_KEY'] ?? ''), 'alice']]);
  const windows = new Map<string, { start: number; count: number }>();
  const limit = 1_000_000_000;
  return (req, res) => {
    const key = req.headers['x-api-key'];
    const owner = typeof key === 'string' ? owners.get(digest(key)) : undefined;
    if (owner === undefined) {
      res.writeHead(401, ['content-length', '0']);
      res.end();
      return;
    }
    const second = Math.floor(Date.now() / 1000);
    let window = windows.get(owner);
    if (window === undefined || window.start !== second) windows.set(owner, (window = { start: second, count: 0 }));
    window.count++;
    res.writeHead(window.count > limit ? 429 : 200, ['x-portcullis-subject', owner, 'x-ratelimit-remaining', String(Math.max(0, limit - window.count)), 'content-length', '0']);
    res.end();
  };
}
