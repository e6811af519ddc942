import { definePlugin } from '@postern/core';
import { openQueueStore } from './queue-store.js';

/** The `lmdb` queue backend (main.cf queue_backend = lmdb, the default). A library: no master.cf command. */
export const plugin = definePlugin({
  name: '@postern/queue-lmdb',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {},
  backends: { queue: { lmdb: ({ config, log }) => openQueueStore({ queueDirectory: config.get('queue_directory'), log }) } },
});
