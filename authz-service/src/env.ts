/** Reading the environment the same way in every config parser of the data plane. */

export type Env = Readonly<Record<string, string | undefined>>;

/** Unset and empty are the same thing: `FOO=` in a compose file means "not configured". */
export function setting(env: Env, name: string): string | undefined {
  const value = env[name]?.trim();
  return value === undefined || value === '' ? undefined : value;
}
