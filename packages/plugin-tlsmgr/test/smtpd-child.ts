/**
 * A separate STARTTLS server process (as an smtpd service process) for the
 * cross-process ticket test. It runs only when forked by tls-rig.ts
 * (TLSMGR_TEST_SMTPD holds its settings) and does nothing when the test
 * runner loads it.
 */
import { startStarttlsServer } from '@postern/testkit';
import { CaptureLog, makeConfig } from './tls-rig.js';

const spec = process.env.TLSMGR_TEST_SMTPD;
if (spec && process.send) {
  const params = JSON.parse(spec) as Record<string, string>;
  const config = makeConfig(params.queue_directory!, { queue_directory: params.queue_directory!, data_directory: params.data_directory! });
  const svc = await startStarttlsServer({ config, certFile: params.cert!, keyFile: params.key!, log: new CaptureLog() });
  process.send({ port: svc.port });
  process.on('disconnect', () => void svc.stop().finally(() => process.exit(0)));
}
