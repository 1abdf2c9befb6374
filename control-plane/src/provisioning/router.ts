/**
 * Which provisioner owns a key: an external one for the services it is configured for (and the keys it
 * linked), the built-in one for everything else. Wired once in the composition root.
 */
import { ProblemError } from '../problem-error.js';
import type { Db } from '../store/rows.js';
import { BuiltinProvisioner } from './builtin.js';
import type { ExternalProvisioner, KeyProvisioner, ServiceTarget } from './provisioner.js';

export class KeyProvisioners {
  readonly builtin = new BuiltinProvisioner();

  constructor(private readonly external: readonly ExternalProvisioner[] = []) {}

  /**
   * The provisioner for a new key of `services`. A key an external system provisions is one application
   * there, for one service, so it cannot also cover other services.
   */
  forServices(services: readonly ServiceTarget[], path: string): KeyProvisioner {
    for (const provisioner of this.external) {
      const index = services.findIndex((s) => provisioner.handles(s.name));
      if (index === -1) continue;
      if (services.length > 1) {
        const message = `service "${services[index]!.name}" is provisioned by ${provisioner.name}: a key for it covers that service alone`;
        throw new ProblemError('validation_failed', `${path}: ${message}`, [{ path: `${path}[${index}]`, message }]);
      }
      return provisioner;
    }
    return this.builtin;
  }

  async forKey(db: Db, keyId: string): Promise<KeyProvisioner> {
    for (const provisioner of this.external) if (await provisioner.owns(db, keyId)) return provisioner;
    return this.builtin;
  }
}
