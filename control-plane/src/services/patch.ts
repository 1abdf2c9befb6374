/**
 * JSON merge-patch for flat resources: a field present in the patch replaces the current value, `null`
 * removes an optional field, an absent field stays as it is.
 */
export function mergePatch<T extends object>(current: T, patch: object): T {
  const out: Record<string, unknown> = { ...(current as Record<string, unknown>) };
  for (const [k, v] of Object.entries(patch)) {
    if (v === undefined) continue;
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return out as T;
}
