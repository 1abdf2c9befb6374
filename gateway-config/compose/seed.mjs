// @ts-check
/**
 * Declares the compose walkthrough's plans, trusted issuers and protected services through the control
 * plane's REST API (POST /v1/plans, /v1/issuers, /v1/services), so `docker compose up` ends with a
 * protected model and nothing to click. Safe to re-run: 409 (already exists) counts as done.
 *
 * Usage:  node gateway-config/compose/seed.mjs <file.yaml>
 * Env:    PORTCULLIS_URL    control-plane base URL (default http://control-plane:8080)
 *         PORTCULLIS_TOKEN  admin credential, sent as a Bearer token (required)
 *         SEED_WAIT_SECONDS how long to wait for the control plane's /readyz (default 120)
 */
import { readFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import YAML from 'yaml';

/** Dependency order: services name plans. */
export const SEED_KINDS = /** @type {const} */ ([
  { key: 'plans', path: '/v1/plans' },
  { key: 'issuers', path: '/v1/issuers' },
  { key: 'services', path: '/v1/services' },
]);

/** @param {number} ms */
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** @param {string} baseUrl @param {number} seconds */
async function waitUntilReady(baseUrl, seconds) {
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    try {
      const res = await fetch(`${baseUrl}/readyz`, { signal: AbortSignal.timeout(3000) });
      if (res.ok) return;
    } catch {
      // not up yet
    }
    if (Date.now() > deadline) throw new Error(`control plane at ${baseUrl} not ready after ${seconds}s`);
    await sleep(1000);
  }
}

/** @param {Record<string, unknown>} item */
const labelOf = (item) => String(item['name'] ?? item['issuer'] ?? '?');

/**
 * @param {{ baseUrl: string, token: string, document: Record<string, unknown>, log: (line: string) => void }} options
 * @returns {Promise<boolean>} true when every item was created or already existed
 */
export async function seed({ baseUrl, token, document, log }) {
  let ok = true;
  for (const kind of SEED_KINDS) {
    const items = document[kind.key] ?? [];
    if (!Array.isArray(items)) throw new Error(`"${kind.key}" must be a list`);
    for (const item of items) {
      const res = await fetch(`${baseUrl}${kind.path}`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${token}`,
          'content-type': 'application/json',
          'idempotency-key': `seed-${kind.key}-${labelOf(item)}`,
        },
        body: JSON.stringify(item),
      });
      const text = await res.text();
      if (res.status === 409) log(`exists   ${kind.key} ${labelOf(item)}`);
      else if (res.ok) log(`created  ${kind.key} ${labelOf(item)}`);
      else {
        ok = false;
        log(`FAILED   ${kind.key} ${labelOf(item)}: HTTP ${res.status} ${text.slice(0, 2000)}`);
      }
    }
  }
  return ok;
}

async function main() {
  const file = process.argv[2];
  const token = process.env['PORTCULLIS_TOKEN'];
  if (!file || !token) {
    process.stderr.write('usage: PORTCULLIS_TOKEN=<admin key> node seed.mjs <file.yaml>\n');
    process.exit(2);
  }
  const baseUrl = (process.env['PORTCULLIS_URL'] ?? 'http://control-plane:8080').replace(/\/+$/, '');
  const document = YAML.parse(await readFile(file, 'utf8'));
  await waitUntilReady(baseUrl, Number(process.env['SEED_WAIT_SECONDS'] ?? 120));
  const ok = await seed({ baseUrl, token, document, log: (line) => process.stdout.write(`${line}\n`) });
  process.exit(ok ? 0 : 1);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error) => {
    process.stderr.write(`seed: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  });
}
