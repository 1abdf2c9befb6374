/**
 * Compose's variable interpolation, for reading docker-compose.yml the way `docker compose config` would
 * with no `.env`: `${VAR:-default}`, `${VAR-default}`, `${VAR:?message}`, `${VAR}`, `$VAR` and `$$`.
 */
import { isObject, type Json } from './files.js';

const PATTERN = /\$(?:\$|\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])((?:[^{}]|\{[^{}]*\})*))?\}|([A-Za-z_][A-Za-z0-9_]*))/g;

export function interpolateString(text: string, env: Readonly<Record<string, string>>): string {
  return text.replace(PATTERN, (whole, braced?: string, operator?: string, argument?: string, bare?: string) => {
    if (whole === '$$') return '$';
    const name = braced ?? bare!;
    const value = env[name];
    const unsetOrEmpty = value === undefined || value === '';
    switch (operator) {
      case ':-':
        return unsetOrEmpty ? interpolateString(argument ?? '', env) : value;
      case '-':
        return value === undefined ? interpolateString(argument ?? '', env) : value;
      case ':?':
      case '?':
        if (operator === ':?' ? unsetOrEmpty : value === undefined) throw new Error(`required variable ${name}: ${argument ?? ''}`);
        return value!;
      default:
        return value ?? '';
    }
  });
}

export function interpolate(value: Json, env: Readonly<Record<string, string>>): Json {
  if (typeof value === 'string') return interpolateString(value, env);
  if (Array.isArray(value)) return value.map((v) => interpolate(v, env));
  if (isObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v, env)]));
  return value;
}
