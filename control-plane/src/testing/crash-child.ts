/**
 * A control plane in a child process, for the crash-safety test: it reports its port and bootstrap key on
 * stdout, and with PORTCULLIS_TEST_PAUSE_IN_KEY_CREATE=1 it stops inside the key-create transaction (after
 * the key row, before its secret) and says so, waiting to be killed.
 */
import type { AddressInfo } from 'node:net';
import { parseConfig } from '../config.js';
import { createControlPlane } from '../control-plane.js';
import { createLogger } from '../http/logger.js';

const parsed = parseConfig({ ...process.env, PORTCULLIS_LOG_LEVEL: 'silent' });
if (!parsed.ok) throw new Error(parsed.errors.join('; '));
const pause = process.env['PORTCULLIS_TEST_PAUSE_IN_KEY_CREATE'] === '1';

const controlPlane = await createControlPlane(parsed.config, {
  logger: createLogger('silent'),
  announce: (message) => {
    const key = /\b(pc_[A-Za-z0-9]{36})\b/.exec(message)?.[1];
    process.stdout.write(`BOOTSTRAP ${key}\n`);
  },
  keyHooks: pause
    ? {
        duringKeyCreate: async (keyId) => {
          process.stdout.write(`PAUSED ${keyId}\n`);
          await new Promise(() => undefined);
        },
      }
    : {},
});
const server = await controlPlane.listen(0, '127.0.0.1');
process.stdout.write(`LISTENING ${(server.address() as AddressInfo).port}\n`);
