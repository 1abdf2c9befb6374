/** Once-only facts about this installation (e.g. "the first admin key was created"). */
import type { Db } from './rows.js';

/** Records `key` unless it exists; true when this call recorded it. Safe against concurrent replicas. */
export async function claimMeta(tx: Db, key: string, value: string, at: Date): Promise<boolean> {
  const rows = (await tx('meta').insert({ key, value, at }).onConflict('key').ignore().returning('key')) as unknown[];
  return rows.length === 1;
}
