/**
 * The baselines every authz-service scenario is measured against, in the same run on the same core:
 *
 * - bare: a node:http server answering like an allow (200, empty body, a couple of headers). The ratio the
 *   issue's targets are stated in.
 * - framing floor (BARE_ALLOW_HEADERS set): node:http that reads the request's headers and writes exactly the
 *   allow headers Portcullis sends (captured from a live answer), and decides nothing. No authorization
 *   service built on node:http can beat it, so it shows how much of the gap to bare is HTTP framing of the
 *   answer and how much is the decision.
 */
import { createServer } from 'node:http';

const port = Number(process.env['PORT']);
const allowHeaders = process.env['BARE_ALLOW_HEADERS'];

const server = allowHeaders === undefined ? bare() : framingFloor(JSON.parse(allowHeaders) as string[]);
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));

function bare() {
  const headers = ['x-portcullis-subject', 'alice', 'content-length', '0'];
  return createServer((_req, res) => {
    res.writeHead(200, headers);
    res.end();
  });
}

function framingFloor(headers: readonly string[]) {
  let seen = 0;
  return createServer((req, res) => {
    // what the adapter reads: the header object (materialised on first access) and the forwarded target
    const h = req.headers;
    seen += (h['x-forwarded-uri']?.length ?? 0) + (h['x-api-key']?.length ?? 0) + (h['authorization']?.length ?? 0);
    res.writeHead(200, seen >= 0 ? [...headers] : []);
    res.end();
  });
}
