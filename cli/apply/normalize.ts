/**
 * The declared objects in the shape the server stores them, so that comparing is comparing like with
 * like: a service's `upstream_url` shorthand becomes `upstream_urls`, a consumer's `subject` joins its
 * `subjects`.
 */
import type { Declared } from './document.js';

export function normalize(declared: Declared): Declared {
  const body: Record<string, unknown> = { ...declared.body };
  if (declared.spec.kind === 'service' && typeof body['upstream_url'] === 'string' && body['upstream_urls'] === undefined) {
    body['upstream_urls'] = [body['upstream_url']];
    delete body['upstream_url'];
  }
  if (declared.spec.kind === 'consumer' && body['subject'] !== undefined) {
    body['subjects'] = [body['subject'], ...(Array.isArray(body['subjects']) ? body['subjects'] : [])];
    delete body['subject'];
  }
  return { ...declared, body };
}
