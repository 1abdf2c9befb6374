/**
 * The compiled state the shared credential resolvers read when they authenticate a control-plane caller:
 * issuers (for JWTs), consumers (subject links, disabled flags) and plans, plus one pseudo service that
 * stands for the control plane itself. Keys are not in it: they are looked up in the database by hash,
 * so a new or revoked key takes effect on the next request. Recompiled only when the revision moves.
 */
import type { Knex } from 'knex';
import { compileState, type CompiledService, type CompiledState } from '../../../authz-service/src/state/compile.js';
import type { ServiceSpec } from '../../../authz-service/src/state/schema.js';
import { allConsumers } from '../store/consumers.js';
import { currentRevision } from '../store/revision.js';
import { consumerSpec, readCatalog } from '../services/state-document.js';

export const CONTROL_PLANE_SERVICE = 'portcullis-control-plane';

const controlPlaneService: ServiceSpec = {
  name: CONTROL_PLANE_SERVICE,
  upstream_urls: ['http://127.0.0.1/'],
  match: { path_prefix: '/v1' },
  credentials: ['api_key', 'jwt'],
  scopes: [],
  roles: [],
  fail_mode: 'closed',
  mode: 'enforce',
  forward_credentials: false,
  routes: [],
};

export interface AuthState {
  readonly revision: number;
  readonly state: CompiledState;
  readonly service: CompiledService;
}

export class AuthStateCache {
  #current: { revision: number; state: Promise<AuthState> } | undefined;

  constructor(private readonly db: Knex) {}

  async get(): Promise<AuthState> {
    const revision = await currentRevision(this.db);
    if (this.#current === undefined || this.#current.revision < revision) {
      const building = { revision, state: this.#build(revision) };
      this.#current = building;
      // a failed build must not stick: the next request tries again
      building.state.catch(() => {
        if (this.#current === building) this.#current = undefined;
      });
    }
    return this.#current.state;
  }

  async #build(revision: number): Promise<AuthState> {
    const { plans, issuers } = await readCatalog(this.db);
    const consumers = (await allConsumers(this.db)).map(consumerSpec);
    const result = compileState({ revision, plans, issuers, consumers, services: [controlPlaneService] });
    if (!result.ok) throw new Error(`control-plane auth state does not compile: ${result.errors.join('; ')}`);
    return { revision, state: result.state, service: result.state.services.get(CONTROL_PLANE_SERVICE)! };
  }
}
