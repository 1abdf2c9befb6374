/**
 * The slice of envoy.service.auth.v3 messages the adapter reads and writes, in the object shape
 * @grpc/proto-loader produces with PROTO_LOADER_OPTIONS (snake_case fields, enums by name, absent fields
 * undefined). Hand-written because the generated tree for these protos is thousands of types; field names
 * here are checked against the official protos by the tests, which use a real client.
 */

export interface CheckRequestMessage {
  readonly attributes?: {
    readonly source?: PeerMessage;
    readonly destination?: PeerMessage;
    readonly request?: { readonly http?: HttpRequestMessage };
    readonly context_extensions?: Readonly<Record<string, string>>;
  };
}

interface PeerMessage {
  readonly address?: { readonly socket_address?: { readonly address?: string; readonly port_value?: number } };
  readonly principal?: string;
}

export interface HttpRequestMessage {
  readonly id?: string;
  readonly method?: string;
  readonly headers?: Readonly<Record<string, string>>;
  readonly path?: string;
  readonly host?: string;
  readonly scheme?: string;
  readonly protocol?: string;
}

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction */
export type HeaderAppendAction = 'APPEND_IF_EXISTS_OR_ADD' | 'ADD_IF_ABSENT' | 'OVERWRITE_IF_EXISTS_OR_ADD' | 'OVERWRITE_IF_EXISTS';

export interface HeaderValueOptionMessage {
  readonly header: { readonly key: string; readonly value: string };
  readonly append_action: HeaderAppendAction;
}

/** google.protobuf.Value as protobufjs defines it (camelCase, unlike the Envoy messages). */
export type StructValueMessage = { readonly stringValue: string } | { readonly numberValue: number } | { readonly boolValue: boolean };

export interface StructMessage {
  readonly fields: Readonly<Record<string, StructValueMessage>>;
}

export interface OkHttpResponseMessage {
  readonly headers?: readonly HeaderValueOptionMessage[];
  readonly headers_to_remove?: readonly string[];
  readonly response_headers_to_add?: readonly HeaderValueOptionMessage[];
  readonly query_parameters_to_remove?: readonly string[];
}

export interface DeniedHttpResponseMessage {
  /** envoy.type.v3.HttpStatus; `code` is an envoy.type.v3.StatusCode, which numbers like HTTP statuses. */
  readonly status: { readonly code: number };
  readonly headers: readonly HeaderValueOptionMessage[];
  readonly body: string;
}

export interface CheckResponseMessage {
  readonly status: { readonly code: number; readonly message?: string };
  readonly ok_response?: OkHttpResponseMessage;
  readonly denied_response?: DeniedHttpResponseMessage;
  readonly dynamic_metadata?: StructMessage;
}
