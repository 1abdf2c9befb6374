/** `node dist/control-plane/src/main.js`: the control plane on PORTCULLIS_CONTROL_PLANE_PORT. */
import { parseConfig } from './config.js';
import { createControlPlane } from './control-plane.js';

const LOOPBACK = /^(?:127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

const parsed = parseConfig(process.env);
if (!parsed.ok) {
  process.stderr.write(`portcullis control plane: invalid configuration\n  ${parsed.errors.join('\n  ')}\n`);
  process.exit(2);
}
const config = parsed.config;

try {
  const controlPlane = await createControlPlane(config);
  await controlPlane.listen(config.port);
  controlPlane.logger.info({ port: config.port }, 'control plane listening');
  if (config.sync) {
    await controlPlane.serveSync();
    if (config.sync.tls === undefined && !LOOPBACK.test(config.sync.host)) {
      controlPlane.logger.warn(
        { host: config.sync.host },
        'state sync is plaintext: key hashes, consumers and the sync token cross the network unencrypted (set PORTCULLIS_SYNC_TLS_CERT_FILE and _KEY_FILE)',
      );
    }
  } else controlPlane.logger.warn('PORTCULLIS_SYNC_TOKEN is not set: state sync is off and no data plane can connect');

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    controlPlane.logger.info({ signal }, 'shutting down');
    controlPlane.close().then(
      () => process.exit(0),
      (error: unknown) => {
        controlPlane.logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.once('SIGTERM', () => stop('SIGTERM'));
  process.once('SIGINT', () => stop('SIGINT'));
} catch (error) {
  process.stderr.write(`portcullis control plane: could not start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
