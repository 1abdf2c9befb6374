/**
 * What counts as a pinned container image: an exact version tag (`postgres:16.10-alpine`,
 * `traefik:v3.6.25`), a digest, or both. `latest`, a missing tag and floating tags such as `16` or `v3.6`
 * all change under your feet and are rejected.
 */
const DIGEST = /@sha256:[0-9a-f]{64}$/;
const EXACT_VERSION_TAG = /^v?\d+\.\d+\.\d+(?:[-+._][0-9A-Za-z.-]+)?$/;
/** Since PostgreSQL 10, MAJOR.MINOR is a complete release number (16.10 is one exact release). */
const TWO_PART_RELEASES = new Set(['postgres', 'library/postgres', 'docker.io/library/postgres']);
const EXACT_TWO_PART_TAG = /^\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/;

export interface ImageRef {
  readonly name: string;
  readonly tag: string | undefined;
  readonly digest: string | undefined;
}

export function parseImageRef(ref: string): ImageRef {
  const at = ref.indexOf('@');
  const digest = at >= 0 ? ref.slice(at + 1) : undefined;
  const withoutDigest = at >= 0 ? ref.slice(0, at) : ref;
  // A colon after the last slash is a tag; one before it belongs to a registry host:port.
  const lastSlash = withoutDigest.lastIndexOf('/');
  const colon = withoutDigest.indexOf(':', lastSlash + 1);
  return colon >= 0
    ? { name: withoutDigest.slice(0, colon), tag: withoutDigest.slice(colon + 1), digest }
    : { name: withoutDigest, tag: undefined, digest };
}

/** Why `ref` is not pinned, or undefined when it is. */
export function unpinnedReason(ref: string): string | undefined {
  const { name, tag, digest } = parseImageRef(ref);
  if (digest !== undefined) return DIGEST.test(`@${digest}`) ? undefined : `${ref}: malformed digest`;
  if (tag === undefined) return `${ref}: no tag (means latest)`;
  if (tag === 'latest') return `${ref}: latest`;
  if (TWO_PART_RELEASES.has(name) && EXACT_TWO_PART_TAG.test(tag)) return undefined;
  if (!EXACT_VERSION_TAG.test(tag)) return `${ref}: tag "${tag}" is not an exact version`;
  return undefined;
}
