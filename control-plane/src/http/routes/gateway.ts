/**
 * /v1/gateway/{traefik,nginx,envoy}: each gateway's configuration rendered from the services as they stand,
 * so adding a service through the API makes the gateway route and protect it without hand-edited files.
 * Readable by administrators, by `PORTCULLIS_GATEWAY_TOKEN` and by keys with the `portcullis:gateway` scope.
 */
import { isIP } from 'node:net';
import { z } from 'zod';
import { GATEWAY_SCOPE } from '../../auth/actor.js';
import { renderEnvoyBootstrap } from '../../gateway/envoy.js';
import { renderNginxSite } from '../../gateway/nginx.js';
import type { GatewaySettings, GatewayState } from '../../gateway/settings.js';
import { parseHostPort } from '../../gateway/settings-env.js';
import { renderTraefikConfig } from '../../gateway/traefik.js';
import { conflict } from '../../problem-error.js';
import { serviceSpec } from '../../services/state-document.js';
import { allServices } from '../../store/services.js';
import type { Db } from '../../store/rows.js';
import { query, type Route } from '../route.js';

const access = { anyScope: [GATEWAY_SCOPE] } as const;
const NO_STORE = { 'cache-control': 'no-store' } as const;

async function gatewayState(db: Db): Promise<GatewayState> {
  return { services: (await allServices(db)).map(serviceSpec) };
}

/** Where the rendered gateway listens for clients; the settings' default unless the caller says. */
export const ListenQuerySchema = z.strictObject({
  listen_host: z
    .string()
    .max(64)
    .refine((h) => isIP(h) !== 0, 'must be an IP address (e.g. 0.0.0.0 or ::)')
    .optional(),
  listen_port: z.coerce.number().int().min(1).max(65535).optional(),
});
type ListenQuery = z.output<typeof ListenQuerySchema>;

/**
 * nginx balances over every address its upstream's name resolves to (a compose service name, a headless
 * Service); where the replicas have no such name, the caller lists them.
 */
const NginxQuerySchema = ListenQuerySchema.extend({
  authz_servers: z
    .string()
    .max(4096)
    .refine(
      (raw) => raw.split(',').every((entry) => parseHostPort(entry.trim()) !== undefined),
      'must be a comma-separated list of host:port, e.g. 10.0.0.7:8181,10.0.0.8:8181',
    )
    .optional()
    .meta({ description: 'Comma-separated host:port of every authz-service replica nginx should ask; default: the host of PORTCULLIS_GATEWAY_AUTHZ_URL' }),
});

function withListen(settings: GatewaySettings, q: ListenQuery): GatewaySettings {
  return { ...settings, listen: { host: q.listen_host ?? settings.listen.host, port: q.listen_port ?? settings.listen.port } };
}

const name = z.string();
const TraefikDynamicConfigSchema = z
  .object({
    http: z.object({
      routers: z.record(name, z.object({ rule: z.string(), service: z.string(), entryPoints: z.array(z.string()), middlewares: z.array(z.string()), priority: z.number().int() })),
      services: z.record(name, z.object({ loadBalancer: z.object({ servers: z.array(z.object({ url: z.string() })), passHostHeader: z.boolean() }) })),
      middlewares: z.record(name, z.object({ forwardAuth: z.object({ address: z.string(), trustForwardHeader: z.boolean(), authResponseHeaders: z.array(z.string()) }) })),
    }),
  })
  .meta({ id: 'TraefikDynamicConfiguration', description: 'Traefik v3 dynamic configuration (routers, services, forwardAuth middlewares)' });

const EnvoyBootstrapSchema = z
  .record(z.string(), z.unknown())
  .meta({ id: 'EnvoyBootstrap', description: 'envoy.config.bootstrap.v3.Bootstrap in proto3 JSON' });

export function gatewayRoutes(settings: GatewaySettings): Route[] {
  return [
    query({
      operationId: 'getTraefikConfiguration',
      method: 'get',
      path: '/v1/gateway/traefik',
      summary: "Traefik's dynamic configuration for every service (HTTP provider endpoint)",
      description:
        'Point `providers.http.endpoint` here and send a credential with `providers.http.headers` (`Authorization: Bearer <PORTCULLIS_GATEWAY_TOKEN>`, ' +
        `or a key with the \`${GATEWAY_SCOPE}\` scope). Always the complete document, also with no service at all: Traefik treats any other ` +
        'answer as an error and keeps its last good configuration.',
      tag: 'gateway',
      access,
      success: { status: 200, description: 'Routers, services and the forwardAuth middleware', schema: TraefikDynamicConfigSchema },
      handler: async ({ db }) => ({ body: renderTraefikConfig(await gatewayState(db), settings), headers: NO_STORE }),
    }),
    query({
      operationId: 'getNginxConfiguration',
      method: 'get',
      path: '/v1/gateway/nginx',
      summary: 'nginx configuration (auth_request) for every service',
      description:
        'The http-context part (`upstream`, `map` and `server` blocks) for an `include` such as conf.d/portcullis.conf. ' +
        '`listen_host` and `listen_port` set where nginx accepts clients; `authz_servers` lists the authz-service replicas ' +
        'when no one name resolves to all of them.',
      tag: 'gateway',
      access,
      query: NginxQuerySchema,
      errors: [409],
      success: { status: 200, description: 'nginx configuration', schema: z.string(), contentType: 'text/plain' },
      handler: async ({ db, query: q }) => {
        const state = await gatewayState(db);
        const authzServers = q.authz_servers?.split(',').map((entry) => entry.trim());
        let site: string;
        try {
          site = renderNginxSite(state, withListen(settings, q), authzServers ? { authzServers } : {});
        } catch (error) {
          // the configured identity header names cannot be nginx variables: the deployment's settings, not the request
          if (error instanceof RangeError) throw conflict(`${error.message} (PORTCULLIS_IDENTITY_HEADERS)`);
          throw error;
        }
        return { body: site, headers: NO_STORE };
      },
    }),
    query({
      operationId: 'getEnvoyBootstrap',
      method: 'get',
      path: '/v1/gateway/envoy',
      summary: 'Static Envoy bootstrap (ext_authz over gRPC) for every service',
      description: 'Run with `envoy -c`. `listen_host` and `listen_port` set the listener address.',
      tag: 'gateway',
      access,
      query: ListenQuerySchema,
      success: { status: 200, description: 'The bootstrap', schema: EnvoyBootstrapSchema },
      handler: async ({ db, query: q }) => ({ body: renderEnvoyBootstrap(await gatewayState(db), withListen(settings, q)), headers: NO_STORE }),
    }),
  ];
}
