/**
 * grpc.health.v1.Health for the ext_authz server: what Envoy's `grpc_health_check`, Kubernetes' gRPC probes
 * and grpc_health_probe ask. Going NOT_SERVING first is how a shutdown drains: health-checking clients stop
 * sending new Check calls before the server stops accepting them.
 */
import { type sendUnaryData, type ServerUnaryCall, type ServerWritableStream, status as GrpcStatus, type UntypedServiceImplementation } from '@grpc/grpc-js';

export type ServingStatus = 'SERVING' | 'NOT_SERVING';

interface HealthCheckRequest {
  readonly service?: string;
}
interface HealthCheckResponse {
  readonly status: ServingStatus | 'SERVICE_UNKNOWN';
}

/** The overall server status, by the protocol's convention. */
export const OVERALL = '';

export class HealthService {
  readonly #statuses = new Map<string, ServingStatus>();
  readonly #watchers = new Map<string, Set<ServerWritableStream<HealthCheckRequest, HealthCheckResponse>>>();

  /** `services`: the fully qualified service names served, besides the overall status "". */
  constructor(services: readonly string[], initial: ServingStatus = 'SERVING') {
    for (const service of [OVERALL, ...services]) this.#statuses.set(service, initial);
  }

  /** Set one service's status, or every status when `service` is omitted. */
  set(status: ServingStatus, service?: string): void {
    const targets = service === undefined ? [...this.#statuses.keys()] : [service];
    for (const name of targets) {
      if (this.#statuses.get(name) === status) continue;
      this.#statuses.set(name, status);
      for (const call of this.#watchers.get(name) ?? []) call.write({ status });
    }
  }

  status(service: string = OVERALL): ServingStatus | undefined {
    return this.#statuses.get(service);
  }

  /** Watch streams would hold a graceful shutdown open forever; end them (after a final status). */
  endWatches(): void {
    for (const calls of this.#watchers.values()) for (const call of calls) call.end();
    this.#watchers.clear();
  }

  implementation(): UntypedServiceImplementation {
    return {
      Check: (call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>) => {
        const status = this.#statuses.get(call.request.service ?? OVERALL);
        if (status === undefined) callback({ code: GrpcStatus.NOT_FOUND, details: 'unknown service' });
        else callback(null, { status });
      },
      List: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<{ statuses: Record<string, HealthCheckResponse> }>) => {
        const statuses: Record<string, HealthCheckResponse> = {};
        for (const [name, status] of this.#statuses) statuses[name] = { status };
        callback(null, { statuses });
      },
      Watch: (call: ServerWritableStream<HealthCheckRequest, HealthCheckResponse>) => {
        const service = call.request.service ?? OVERALL;
        call.write({ status: this.#statuses.get(service) ?? 'SERVICE_UNKNOWN' });
        const calls = this.#watchers.get(service) ?? new Set();
        this.#watchers.set(service, calls);
        calls.add(call);
        call.on('cancelled', () => calls.delete(call));
      },
    };
  }
}
