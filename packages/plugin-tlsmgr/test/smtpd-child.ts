/**
 * A separate smtpd service process for the cross-process ticket test. It
 * runs only when forked by tls-rig.ts (TLSMGR_TEST_SMTPD holds its main.cf
 * settings) and does nothing when the test runner loads it.
 */
import { createTableRegistry } from '@postern/tables';
import { startServiceInProcess } from '@postern/core';
// eslint-disable-next-line @typescript-eslint/no-restricted-imports -- the session-resumption test needs a real STARTTLS server using tlsmgr; until the test kit has one, it is smtpd (a devDependency)
import { createSmtpdMain, SMTPD_PARAMETERS } from '@postern/plugin-smtpd';
import { CaptureLog, entry, makeConfig } from './tls-rig.js';

const spec = process.env.TLSMGR_TEST_SMTPD;
if (spec && process.send) {
  const params = JSON.parse(spec) as Record<string, string>;
  const config = makeConfig(params.queue_directory!, params, SMTPD_PARAMETERS);
  const svc = await startServiceInProcess(createSmtpdMain({ tables: createTableRegistry() }), {
    entry: entry('smtp', 'smtpd', 'inet'),
    config,
    log: new CaptureLog(),
    listen: { port: 0, host: '127.0.0.1' },
  });
  process.send({ port: svc.port });
  process.on('disconnect', () => void svc.stop().finally(() => process.exit(0)));
}
