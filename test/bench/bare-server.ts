/**
 * The baseline: a bare node:http server answering like an allow (200, empty body, a couple of headers).
 * Every authz-service scenario is reported as a ratio to this, measured in the same run on the same core.
 */
import { createServer } from 'node:http';

const port = Number(process.env['PORT']);
const HEADERS = ['x-portcullis-subject', 'alice', 'content-length', '0'];
createServer((_req, res) => {
  res.writeHead(200, HEADERS);
  res.end();
}).listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
