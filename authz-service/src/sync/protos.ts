/**
 * The state-sync contract (`proto/portcullis/v1/sync.proto`), loaded once for the control plane's server and
 * the replicas' client, so both read the same fields the same way.
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { loadGrpcPackage, lookupGrpc, repositoryProtoDir } from '../grpc/protos.js';

export const SYNC_PROTO = 'portcullis/v1/sync.proto';
export const SYNC_SERVICE = 'portcullis.v1.StateSync';

/**
 * Field names as in the .proto; 64-bit integers as JS numbers (epoch ms and revisions stay far below 2^53);
 * enums by name; absent scalars as their defaults and the set member of a oneof named in its own field.
 */
export const SYNC_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
});

let definition: protoLoader.PackageDefinition | undefined;

export function loadSyncDefinition(): protoLoader.PackageDefinition {
  definition ??= protoLoader.loadSync(SYNC_PROTO, { ...SYNC_LOADER_OPTIONS, includeDirs: [repositoryProtoDir()] });
  return definition;
}

/** What `server.addService` takes. */
export function syncServiceDefinition(): ServiceDefinition {
  return (lookupGrpc(loadGrpcPackage(loadSyncDefinition()), SYNC_SERVICE) as { service: ServiceDefinition }).service;
}

/** The generated client class (`new StateSync(address, credentials, options)`). */
export function syncClientConstructor(): unknown {
  return lookupGrpc(loadGrpcPackage(loadSyncDefinition()), SYNC_SERVICE);
}
