/**
 * Where the gRPC contracts come from. Envoy's protos are the OFFICIAL ones, as shipped (with every import they
 * need) by @grpc/grpc-js-xds under `deps/`; our own (the standard health service) live in the repository's
 * `proto/` folder. The server, its tests, the benchmark and the Envoy bootstrap checker all load through here,
 * so they can never disagree about a field.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type GrpcObject, loadPackageDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import type * as Protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The four roots @grpc/grpc-js-xds ships; `google/protobuf/*` comes from protobufjs' built-in types. */
const ENVOY_DEPS_ROOTS = ['envoy-api', 'googleapis', 'protoc-gen-validate', 'xds'] as const;

let envoyDirs: readonly string[] | undefined;

export function envoyProtoIncludeDirs(): readonly string[] {
  if (envoyDirs === undefined) {
    const packageDir = path.dirname(require.resolve('@grpc/grpc-js-xds/package.json'));
    envoyDirs = Object.freeze(ENVOY_DEPS_ROOTS.map((root) => path.join(packageDir, 'deps', root)));
  }
  return envoyDirs;
}

const HEALTH_PROTO = 'grpc/health/v1/health.proto';

/**
 * The repository's `proto/` folder. Found by walking up, because this module runs both from source (tsx) and
 * from `dist/`, which sit at different depths below the repository root.
 */
export function repositoryProtoDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = path.join(dir, 'proto');
    if (existsSync(path.join(candidate, HEALTH_PROTO))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find proto/${HEALTH_PROTO} above ${fileURLToPath(import.meta.url)}`);
    dir = parent;
  }
}

/**
 * One set of proto-loader options for server, client and benchmark. keepCase keeps the protos' snake_case
 * field names (`ok_response`, `headers_to_remove`), exactly as Envoy's documentation spells them — except
 * inside google.protobuf.Struct/Value, which protobufjs defines itself in camelCase (`stringValue`).
 * Enums travel as names (`OVERWRITE_IF_EXISTS_OR_ADD`); numbers are accepted on the way out as well.
 */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: false,
});

export const EXT_AUTHZ_PROTO = 'envoy/service/auth/v3/external_auth.proto';

/** `overrides`: a client may want other object shapes (e.g. `defaults`); the wire format is the same. */
export function loadExtAuthzDefinition(overrides: protoLoader.Options = {}): protoLoader.PackageDefinition {
  return protoLoader.loadSync(EXT_AUTHZ_PROTO, { ...PROTO_LOADER_OPTIONS, ...overrides, includeDirs: [...envoyProtoIncludeDirs()] });
}

export function loadHealthDefinition(overrides: protoLoader.Options = {}): protoLoader.PackageDefinition {
  return protoLoader.loadSync(HEALTH_PROTO, { ...PROTO_LOADER_OPTIONS, ...overrides, includeDirs: [repositoryProtoDir()] });
}

/** Walk a loaded package object by dotted name ("envoy.service.auth.v3.Authorization"). */
export function lookupGrpc(pkg: GrpcObject, dottedName: string): unknown {
  let node: unknown = pkg;
  for (const part of dottedName.split('.')) {
    node = (node as Record<string, unknown> | undefined)?.[part];
  }
  if (node === undefined) throw new Error(`${dottedName} is not in the loaded protos`);
  return node;
}

export function loadGrpcPackage(definition: protoLoader.PackageDefinition): GrpcObject {
  return loadPackageDefinition(definition);
}

/**
 * The protobufjs instance proto-loader itself uses (it is not a direct dependency of ours), with the
 * well-known types proto-loader registers on it. Resolved through proto-loader so that both always agree.
 */
function protobufjs(): typeof Protobuf {
  return createRequire(require.resolve('@grpc/proto-loader'))('protobufjs') as typeof Protobuf;
}

/**
 * A protobufjs Root with the given Envoy protos (and everything they import) loaded and resolved, field
 * names as in the .proto files. For reflection over descriptors (the bootstrap checker), not for RPCs.
 */
export function loadEnvoyProtoRoot(files: readonly string[]): Protobuf.Root {
  const protobuf = protobufjs();
  const dirs = envoyProtoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => {
    if (path.isAbsolute(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    // google/protobuf/*: protobufjs answers from its built-in definitions
    return target;
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}
