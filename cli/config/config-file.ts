/** The CLI's config file: endpoints and the OIDC client, no secrets (those live in the token file). */
import { z } from 'zod';
import { usageError } from '../exit.js';
import { readJsonFile, writePrivateFile } from './private-file.js';

export const ConfigFileSchema = z.strictObject({
  url: z.string().optional(),
  issuer: z.string().optional(),
  client_id: z.string().optional(),
});
export type ConfigFile = z.infer<typeof ConfigFileSchema>;
export type ConfigKey = keyof ConfigFile;
export const CONFIG_KEYS = Object.keys(ConfigFileSchema.shape) as ConfigKey[];

export async function readConfigFile(file: string): Promise<ConfigFile> {
  const raw = await readJsonFile(file);
  if (raw === undefined) return {};
  const parsed = ConfigFileSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(top level)'}: ${i.message}`);
    throw usageError(`${file} is not a valid portcullis config file:\n  ${problems.join('\n  ')}`);
  }
  return parsed.data;
}

/** Merge `changes` into the file (undefined removes a key) and write it back atomically. */
export async function updateConfigFile(file: string, changes: Partial<Record<ConfigKey, string | undefined>>): Promise<ConfigFile> {
  const next: Record<string, string | undefined> = { ...(await readConfigFile(file)), ...changes };
  const clean = Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)) as ConfigFile;
  await writePrivateFile(file, `${JSON.stringify(clean, null, 2)}\n`);
  return clean;
}
