/**
 * Finds the trusted issuer for a token's `iss` and gives every issuer configuration a stable fingerprint.
 *
 * The CompiledState object is replaced on every key change, so nothing cached may hang off it. What a
 * verified token's validity really depends on is the content of its issuer's spec (audiences, algorithms,
 * claim mapping …): verifiers and cache entries are keyed by that content, and a state swap that leaves an
 * issuer unchanged keeps its cached tokens, while a change to it invalidates them.
 */
import type { IssuerSpec } from '../../state/schema.js';

const fingerprints = new WeakMap<IssuerSpec, string>();

/** The issuer configuration's content as a string; memoised per spec object, so per state, not per request. */
export function issuerFingerprint(spec: IssuerSpec): string {
  let fingerprint = fingerprints.get(spec);
  if (fingerprint === undefined) {
    fingerprint = JSON.stringify(spec);
    fingerprints.set(spec, fingerprint);
  }
  return fingerprint;
}

export interface IssuerEntry {
  readonly spec: IssuerSpec;
  readonly fingerprint: string;
}

export interface IssuerIndex {
  /** By `issuer` and by every alias. */
  readonly byName: ReadonlyMap<string, IssuerEntry>;
  /** By fingerprint: is a cached token's issuer configuration still the one in force? */
  readonly byFingerprint: ReadonlyMap<string, IssuerEntry>;
}

const indexes = new WeakMap<readonly IssuerSpec[], IssuerIndex>();

/** Index of one state's issuers, built once per issuers array (the state compiler freezes it per state). */
export function issuerIndex(issuers: readonly IssuerSpec[]): IssuerIndex {
  let index = indexes.get(issuers);
  if (index === undefined) {
    const byName = new Map<string, IssuerEntry>();
    const byFingerprint = new Map<string, IssuerEntry>();
    for (const spec of issuers) {
      const entry: IssuerEntry = Object.freeze({ spec, fingerprint: issuerFingerprint(spec) });
      byFingerprint.set(entry.fingerprint, entry);
      for (const name of [spec.issuer, ...spec.aliases]) byName.set(name, entry);
    }
    index = Object.freeze({ byName, byFingerprint });
    indexes.set(issuers, index);
  }
  return index;
}
