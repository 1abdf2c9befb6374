/**
 * docker-compose.yml as the tests see it: parsed (merge keys resolved), interpolated with an empty
 * environment (so every demo default applies), with small accessors for the facts the cross-checks compare.
 */
import { isObject, type Json, type JsonObject, readYaml, repoPath } from './files.js';
import { interpolate } from './interpolate.js';

export const COMPOSE_FILE = repoPath('docker-compose.yml');

export interface Compose {
  readonly raw: JsonObject;
  readonly resolved: JsonObject;
  readonly serviceNames: readonly string[];
  service(name: string): JsonObject;
}

export function loadCompose(env: Readonly<Record<string, string>> = {}): Compose {
  const raw = readYaml(COMPOSE_FILE);
  if (!isObject(raw)) throw new Error('docker-compose.yml is not a mapping');
  const resolved = interpolate(raw, env) as JsonObject;
  const services = resolved['services'];
  if (!isObject(services)) throw new Error('docker-compose.yml has no services');
  return {
    raw,
    resolved,
    serviceNames: Object.keys(services),
    service(name) {
      const s = services[name];
      if (!isObject(s)) throw new Error(`compose service ${name} is missing`);
      return s;
    },
  };
}

/** A service's environment as a map, whichever of Compose's two spellings it uses. */
export function envOf(service: JsonObject): Record<string, string> {
  const env = service['environment'];
  if (Array.isArray(env)) {
    return Object.fromEntries(
      env.map((entry) => {
        const text = String(entry);
        const eq = text.indexOf('=');
        return eq < 0 ? [text, ''] : [text.slice(0, eq), text.slice(eq + 1)];
      }),
    );
  }
  if (isObject(env)) return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, v === null ? '' : String(v)]));
  return {};
}

export function commandOf(service: JsonObject): string[] {
  const command = service['command'];
  if (Array.isArray(command)) return command.map(String);
  if (typeof command === 'string') return command.split(/\s+/).filter(Boolean);
  return [];
}

/** `--a.b.c=value` flags (Traefik and Prometheus style), keys lower-cased because Traefik ignores case. */
export function flagsOf(service: JsonObject): Map<string, string> {
  const flags = new Map<string, string>();
  for (const arg of commandOf(service)) {
    const m = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    if (m) flags.set(m[1]!.toLowerCase(), m[2] ?? 'true');
  }
  return flags;
}

export interface PortMapping {
  readonly host: number | undefined;
  readonly container: number;
}

export function portsOf(service: JsonObject): PortMapping[] {
  const ports = service['ports'];
  if (!Array.isArray(ports)) return [];
  return ports.map((p: Json) => {
    if (isObject(p)) return { host: p['published'] === undefined ? undefined : Number(p['published']), container: Number(p['target']) };
    const parts = String(p).split(':');
    const container = Number(parts.at(-1)!.split('/')[0]);
    return { host: parts.length > 1 ? Number(parts.at(-2)) : undefined, container };
  });
}

export interface Mount {
  readonly source: string | undefined;
  readonly target: string;
  readonly readOnly: boolean;
}

export function mountsOf(service: JsonObject): Mount[] {
  const volumes = service['volumes'];
  if (!Array.isArray(volumes)) return [];
  return volumes.map((v: Json) => {
    if (isObject(v)) return { source: v['source'] as string | undefined, target: String(v['target']), readOnly: v['read_only'] === true };
    const parts = String(v).split(':');
    if (parts.length === 1) return { source: undefined, target: parts[0]!, readOnly: false };
    return { source: parts[0], target: parts[1]!, readOnly: parts[2]?.split(',').includes('ro') ?? false };
  });
}

/** The host file or folder bind-mounted at `target`, relative to the repository root. */
export function bindSourceAt(service: JsonObject, target: string): string | undefined {
  const mount = mountsOf(service).find((m) => m.target === target);
  return mount?.source?.startsWith('./') ? mount.source.slice(2) : undefined;
}

export function healthcheckOf(service: JsonObject): JsonObject | undefined {
  const hc = service['healthcheck'];
  return isObject(hc) ? hc : undefined;
}

/** The http://127.0.0.1:PORT/path a node one-liner health check fetches. */
export function healthcheckUrl(service: JsonObject): URL | undefined {
  const test = healthcheckOf(service)?.['test'];
  const text = Array.isArray(test) ? test.join(' ') : String(test ?? '');
  const m = /https?:\/\/(?:127\.0\.0\.1|localhost):\d+\/[\w/.-]*/.exec(text);
  return m ? new URL(m[0]) : undefined;
}
