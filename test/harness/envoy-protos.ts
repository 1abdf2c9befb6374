import type * as Protobuf from 'protobufjs';
import { loadEnvoyProtoRoot } from '../../authz-service/src/grpc/protos.js';

/** Every proto whose message the Envoy bootstrap renderer emits, directly or packed in an Any. */
export const BOOTSTRAP_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
] as const;

let root: Protobuf.Root | undefined;

/** Loaded once per process: about half a second on the development machine. */
export function bootstrapProtoRoot(): Protobuf.Root {
  root ??= loadEnvoyProtoRoot(BOOTSTRAP_PROTOS);
  return root;
}

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';
