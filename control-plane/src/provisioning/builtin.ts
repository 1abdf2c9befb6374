/** Today's behaviour: Portcullis mints the key itself (prefix, 178 random bits, checksum). */
import { generateApiKey } from '../../../authz-service/src/credentials/api-key/format.js';
import { noExternalChange, type ExternalChange } from './external-change.js';
import type { KeyEffect, KeyMaterial, KeyProvisioner } from './provisioner.js';

export class BuiltinProvisioner implements KeyProvisioner {
  readonly name = 'builtin' as const;
  readonly managedFields = [] as const;

  mint(): KeyMaterial {
    const generated = generateApiKey();
    return { secret: generated.key, prefix: generated.displayPrefix };
  }

  async issue(): Promise<ExternalChange<KeyMaterial>> {
    return noExternalChange(this.mint());
  }

  async reissue(): Promise<ExternalChange<KeyMaterial>> {
    return noExternalChange(this.mint());
  }

  async suspend(): Promise<ExternalChange<KeyEffect>> {
    return noExternalChange({});
  }

  async resume(): Promise<ExternalChange<KeyEffect>> {
    return noExternalChange({});
  }
}
