/**
 * A client for the ext_authz server built from the same official protos — what the tests and the benchmark
 * call it with, standing in for Envoy. `defaults: true` so that an OK status arrives as `code: 0` rather than
 * as an absent proto3 default.
 */
import { type ChannelCredentials, type ChannelOptions, type Client, credentials, type GrpcObject, Metadata, type ServiceError } from '@grpc/grpc-js';
import type * as protoLoader from '@grpc/proto-loader';
import type { CheckRequestMessage } from './ext-authz-messages.js';
import { loadExtAuthzDefinition, loadGrpcPackage, loadHealthDefinition, lookupGrpc } from './protos.js';

type UnaryMethod = (request: unknown, metadata: Metadata, options: { deadline: number }, callback: (error: ServiceError | null, response: unknown) => void) => void;
type ClientConstructor = new (address: string, creds: ChannelCredentials, options?: ChannelOptions) => Client &
  Record<string, UnaryMethod>;

/** The CheckResponse as a client sees it: fields present with their defaults, except the `http_response` oneof's members (only the one set), enums by name. */
export interface ReceivedCheckResponse {
  readonly status: { readonly code: number; readonly message: string };
  readonly ok_response?: {
    readonly headers: readonly { header: { key: string; value: string }; append_action: string }[];
    readonly headers_to_remove: readonly string[];
    readonly response_headers_to_add: readonly { header: { key: string; value: string }; append_action: string }[];
    readonly query_parameters_to_remove: readonly string[];
  };
  readonly denied_response?: {
    readonly status: { readonly code: string };
    readonly headers: readonly { header: { key: string; value: string }; append_action: string }[];
    readonly body: string;
  };
  readonly dynamic_metadata: null | { readonly fields: Readonly<Record<string, { stringValue?: string }>> };
}

export interface ExtAuthzClient {
  check(request: CheckRequestMessage, timeoutMs?: number): Promise<ReceivedCheckResponse>;
  healthCheck(service?: string, timeoutMs?: number): Promise<string>;
  /** Underlying grpc-js client of the Health service, for streaming calls. */
  readonly healthClient: Client & Record<string, (...args: unknown[]) => unknown>;
  close(): void;
}

const CLIENT_LOADER_OPTIONS: protoLoader.Options = { defaults: true };

function clientConstructor(pkg: GrpcObject, name: string): ClientConstructor {
  return lookupGrpc(pkg, name) as ClientConstructor;
}

function unary<T>(client: Record<string, UnaryMethod>, method: string, request: unknown, timeoutMs: number): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method]!(request, new Metadata(), { deadline: Date.now() + timeoutMs }, (error, response) =>
      error ? reject(error) : resolve(response as T),
    );
  });
}

/**
 * `channelOptions['grpc.use_local_subchannel_pool']` lets several clients open separate connections.
 * Plaintext unless `channelCredentials` says otherwise (grpc/tls.ts makes TLS ones).
 */
export function createExtAuthzClient(address: string, channelOptions: ChannelOptions = {}, channelCredentials: ChannelCredentials = credentials.createInsecure()): ExtAuthzClient {
  const Authorization = clientConstructor(loadGrpcPackage(loadExtAuthzDefinition(CLIENT_LOADER_OPTIONS)), 'envoy.service.auth.v3.Authorization');
  const Health = clientConstructor(loadGrpcPackage(loadHealthDefinition(CLIENT_LOADER_OPTIONS)), 'grpc.health.v1.Health');
  const authz = new Authorization(address, channelCredentials, channelOptions);
  const health = new Health(address, channelCredentials, channelOptions);
  return {
    check: (request, timeoutMs = 5_000) => unary<ReceivedCheckResponse>(authz, 'Check', request, timeoutMs),
    healthCheck: async (service = '', timeoutMs = 5_000) => (await unary<{ status: string }>(health, 'Check', { service }, timeoutMs)).status,
    healthClient: health as ExtAuthzClient['healthClient'],
    close() {
      authz.close();
      health.close();
    },
  };
}
