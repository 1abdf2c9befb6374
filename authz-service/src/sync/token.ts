/**
 * The sync token: a shared bearer secret in the call metadata (`authorization: Bearer <token>`), compared in
 * constant time. Both digests are SHA-256, so the comparison takes as long whatever the lengths.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { Metadata } from '@grpc/grpc-js';
import type { Secret } from '../core/secret.js';

export const SYNC_TOKEN_MIN_LENGTH = 16;

export function syncMetadata(token: Secret): Metadata {
  const metadata = new Metadata();
  metadata.set('authorization', `Bearer ${token.reveal()}`);
  return metadata;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** True when the call's metadata carries exactly the expected token. */
export function presentsToken(metadata: Metadata, expected: Secret): boolean {
  const header = metadata.get('authorization')[0];
  if (typeof header !== 'string' || !/^bearer /i.test(header)) return false;
  return timingSafeEqual(digest(header.slice(7).trim()), digest(expected.reveal()));
}
