/** The configured 3scale mappings and one Admin API client per tenant. */
import type { AccessTokens } from './access-token.js';
import { ThreescaleClient } from './client.js';
import type { ThreescaleConfig, ThreescaleServiceConfig } from './config.js';

export class Tenants {
  readonly #clients = new Map<string, ThreescaleClient>();

  constructor(
    readonly config: ThreescaleConfig,
    tokens: AccessTokens,
  ) {
    for (const mapping of config.services.values()) {
      const { connection } = mapping;
      if (!this.#clients.has(connection.tenantHost)) {
        this.#clients.set(connection.tenantHost, new ThreescaleClient(connection, () => tokens.get(connection.accessTokenSecret)));
      }
    }
  }

  mappings(): ThreescaleServiceConfig[] {
    return [...this.config.services.values()];
  }

  /** The mapping of a Portcullis service, if it is provisioned through 3scale. */
  forService(name: string): ThreescaleServiceConfig | undefined {
    return this.config.services.get(name);
  }

  /** The mapping a stored link belongs to; undefined when the configuration no longer maps it. */
  forLink(link: { readonly tenant: string; readonly serviceId: string }): ThreescaleServiceConfig | undefined {
    return this.mappings().find((m) => m.connection.tenantHost === link.tenant && m.serviceId === link.serviceId);
  }

  client(mapping: ThreescaleServiceConfig): ThreescaleClient {
    return this.#clients.get(mapping.connection.tenantHost)!;
  }
}
