/** The virtual plugin's declaration (package.json "postern.plugin"): finding the plugins loads this, not the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import type { ParameterSpec } from '@postern/core';

/** virtual(8)'s parameters with Postfix's defaults (postconf -d). */
export const VIRTUAL_PARAMETERS: readonly ParameterSpec[] = [
  { name: 'virtual_mailbox_base', default: '', type: 'string', description: 'Prefix prepended to every virtual_mailbox_maps result.' },
  { name: 'virtual_mailbox_maps', default: '', type: 'table', description: 'Mailbox path (relative to virtual_mailbox_base) per recipient; "/" at the end means Maildir.' },
  { name: 'virtual_mailbox_domains', default: '$virtual_mailbox_maps', type: 'list', description: 'Domains delivered by the virtual transport.' },
  { name: 'virtual_uid_maps', default: '', type: 'table', description: 'Owner uid of each mailbox (static:N for all).' },
  { name: 'virtual_gid_maps', default: '', type: 'table', description: 'Owner gid of each mailbox (static:N for all).' },
  { name: 'virtual_minimum_uid', default: '100', type: 'int', description: 'The smallest uid accepted from virtual_uid_maps.' },
  { name: 'virtual_mailbox_limit', default: '51200000', type: 'int', description: 'The largest mbox file or Maildir message in bytes (0: no limit).' },
  { name: 'virtual_mailbox_lock', default: 'fcntl, dotlock', type: 'list', description: 'mbox locking methods: fcntl, flock, dotlock.' },
  { name: 'deliver_lock_attempts', default: '20', type: 'int', description: 'Attempts to lock a mailbox.' },
  { name: 'deliver_lock_delay', default: '1s', type: 'time', description: 'Delay between lock attempts.' },
  { name: 'stale_lock_time', default: '500s', type: 'time', description: 'Age after which a dotlock file is removed as stale.' },
  { name: 'enable_original_recipient', default: 'yes', type: 'bool', description: 'Keep and deliver the original recipient (X-Original-To:).' },
  { name: 'virtual_delivery_status_filter', default: '$default_delivery_status_filter', type: 'table', description: 'Tables that replace the status code and text of a virtual(8) delivery before it is logged and reported; see default_delivery_status_filter.' },
  { name: 'virtual_destination_recipient_limit', default: '$default_destination_recipient_limit', type: 'int', description: 'Recipients per virtual delivery request (qmgr).' },
  { name: 'virtual_destination_concurrency_limit', default: '$default_destination_concurrency_limit', type: 'int', description: 'Parallel deliveries per virtual destination (qmgr).' },
];

export const plugin = definePlugin({
  name: '@postern/plugin-virtual',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    virtual: {
      description: 'virtual(8): deliver to mbox and Maildir mailboxes of virtual domains',
      load: () => import('./virtual.js'),
    },
  },
  parameters: VIRTUAL_PARAMETERS,
  provides: [SERVICE.VIRTUAL],
  uses: [SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});

export default plugin;
