/**
 * The sync protocol's messages as JavaScript sees them through SYNC_LOADER_OPTIONS: snake_case fields,
 * int64 as numbers, bytes as Buffers, enums as names. Outgoing messages may leave defaults out.
 */

export type WireResource = 'RESOURCE_UNSPECIFIED' | 'RESOURCE_SERVICE' | 'RESOURCE_PLAN' | 'RESOURCE_ISSUER' | 'RESOURCE_CONSUMER' | 'RESOURCE_KEY';
export type WireAction =
  | 'ACTION_UNSPECIFIED'
  | 'ACTION_CREATED'
  | 'ACTION_UPDATED'
  | 'ACTION_DELETED'
  | 'ACTION_REVOKED'
  | 'ACTION_RESTORED'
  | 'ACTION_ROTATED';

export interface WireSecret {
  readonly digest: Uint8Array;
  /** 0: never. */
  readonly not_after_ms: number;
}

export interface WireLimit {
  readonly window: string;
  readonly requests: number;
}

export interface WireKey {
  readonly id: string;
  readonly consumer_id: string;
  readonly secrets: readonly WireSecret[];
  readonly services: readonly string[];
  readonly scopes: readonly string[];
  /** '': none. */
  readonly plan: string;
  readonly limits: readonly WireLimit[];
  /** 0: never. */
  readonly expires_at_ms: number;
  readonly revoked: boolean;
}

export interface WireConsumer {
  readonly id: string;
  readonly name: string;
  /** '': none. */
  readonly plan: string;
  readonly subjects: readonly { readonly issuer: string; readonly sub: string }[];
  readonly disabled: boolean;
}

export interface WireChange {
  readonly resource: WireResource;
  readonly action: WireAction;
  readonly id: string;
  readonly consumer?: WireConsumer | null;
  readonly key?: WireKey | null;
}

export interface WireDelta {
  readonly from_revision: number;
  readonly revision: number;
  readonly changes: readonly WireChange[];
  /** '': the catalog did not change. */
  readonly catalog_json: string;
}

export interface WireSnapshotBegin {
  readonly epoch: string;
  readonly revision: number;
  readonly catalog_json: string;
  readonly consumer_count: number;
  readonly key_count: number;
}

export interface WireSnapshotEnd {
  readonly revision: number;
  readonly consumer_count: number;
  readonly key_count: number;
}

export interface WireHeartbeat {
  readonly revision: number;
  readonly interval_ms: number;
  readonly server_time_ms: number;
}

/** A received SyncMessage: `message` names the member of the oneof that is set. */
export type ReceivedSyncMessage =
  | { readonly message: 'snapshot_begin'; readonly snapshot_begin: WireSnapshotBegin }
  | { readonly message: 'consumers'; readonly consumers: { readonly consumers: readonly WireConsumer[] } }
  | { readonly message: 'keys'; readonly keys: { readonly keys: readonly WireKey[] } }
  | { readonly message: 'delta'; readonly delta: WireDelta }
  | { readonly message: 'snapshot_end'; readonly snapshot_end: WireSnapshotEnd }
  | { readonly message: 'heartbeat'; readonly heartbeat: WireHeartbeat };

/** What a server writes: exactly one member set. */
export type OutgoingSyncMessage =
  | { readonly snapshot_begin: WireSnapshotBegin }
  | { readonly consumers: { readonly consumers: readonly WireConsumer[] } }
  | { readonly keys: { readonly keys: readonly WireKey[] } }
  | { readonly delta: WireDelta }
  | { readonly snapshot_end: WireSnapshotEnd }
  | { readonly heartbeat: WireHeartbeat };

export interface WireSubscribeRequest {
  readonly replica_id: string;
  readonly since_revision: number;
  readonly epoch: string;
}

export interface WireUsageEntry {
  readonly key_id: string;
  readonly consumer_id: string;
  readonly service: string;
  readonly day: string;
  readonly allowed: number;
  readonly denied: number;
  readonly last_used_ms: number;
}

export interface WireUsageBatch {
  readonly batch_id: string;
  readonly replica_id: string;
  readonly entries: readonly WireUsageEntry[];
}

export interface WireUsageAck {
  readonly batch_id: string;
  readonly duplicate: boolean;
  readonly accepted: number;
  readonly skipped: number;
}
