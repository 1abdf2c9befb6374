/** The pinning rule the compose and Dockerfile checks rely on: it must tell a pinned image from a floating one. */
import { expect } from 'chai';
import { parseImageRef, unpinnedReason } from './support/images.js';

describe('deploy: image pinning rule', () => {
  it('accepts exact versions and digests', () => {
    for (const ref of [
      'traefik:v3.6.25',
      'quay.io/keycloak/keycloak:26.2.5',
      'redis:7.4.6-alpine',
      'postgres:16.10-alpine',
      'prom/prometheus:v3.5.0',
      `node:20.20.2-bookworm-slim@sha256:${'a'.repeat(64)}`,
      `registry.example.com:5000/team/app@sha256:${'0'.repeat(64)}`,
    ]) {
      expect(unpinnedReason(ref), ref).to.equal(undefined);
    }
  });

  it('rejects latest, missing tags, floating tags and malformed digests', () => {
    for (const ref of ['traefik', 'traefik:latest', 'traefik:v3', 'traefik:v3.6', 'redis:7-alpine', 'postgres:16', 'node:lts', 'registry.example.com:5000/app', 'node@sha256:abc']) {
      expect(unpinnedReason(ref), ref).to.be.a('string');
    }
  });

  it('does not mistake a registry port for a tag', () => {
    expect(parseImageRef('registry.example.com:5000/app:1.2.3')).to.deep.equal({ name: 'registry.example.com:5000/app', tag: '1.2.3', digest: undefined });
    expect(parseImageRef('registry.example.com:5000/app').tag).to.equal(undefined);
  });
});
