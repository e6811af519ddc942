/** The plugin manifest: what the plugin loader imports (package.json postern.plugin), nothing of the implementation. */
import { definePlugin, SERVICE } from '@postern/core';
import type { ParameterSpec } from '@postern/core';

const FILTER = '1234567890!@%-_=+:,./abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';

/** local(8)'s parameters with Postfix's defaults (postconf -d). */
export const LOCAL_PARAMETERS: readonly ParameterSpec[] = [
  { name: 'forward_path', default: '$home/.forward${recipient_delimiter}${extension}, $home/.forward', type: 'list', description: 'The .forward files local(8) looks for ($home, $user, $extension, ... expanded per recipient).' },
  { name: 'home_mailbox', default: '', type: 'string', description: 'Mailbox relative to the home directory ("Mailbox", or "Maildir/" for Maildir).' },
  { name: 'mail_spool_directory', default: '/var/mail', type: 'string', description: 'The spool directory with UNIX-style mailboxes (a trailing "/" means Maildir).' },
  { name: 'mailbox_command', default: '', type: 'string', description: 'Command (shell command line) to use instead of mailbox delivery.' },
  { name: 'mailbox_command_maps', default: '', type: 'table', description: 'Per-user mailbox commands, looked up by user name.' },
  { name: 'allow_mail_to_commands', default: 'alias, forward', type: 'list', description: 'Expansions that may deliver to |command: alias, forward, include.' },
  { name: 'allow_mail_to_files', default: 'alias, forward', type: 'list', description: 'Expansions that may deliver to /file/name: alias, forward, include.' },
  { name: 'luser_relay', default: '', type: 'string', description: 'Destination for unknown local recipients ($user, $local, $domain, $extension ... expanded).' },
  { name: 'mailbox_transport', default: '', type: 'string', description: 'master.cf transport[:nexthop] for mailbox delivery to all local recipients (after aliases and .forward; before mailbox_command and home_mailbox).' },
  { name: 'mailbox_transport_maps', default: '', type: 'table', description: 'Per-user mailbox_transport, looked up by user name (takes precedence over mailbox_transport).' },
  { name: 'fallback_transport', default: '', type: 'string', description: 'master.cf transport[:nexthop] for recipients not found in aliases or passwd (before luser_relay).' },
  { name: 'fallback_transport_maps', default: '', type: 'table', description: 'Per-user fallback_transport, looked up by user name (takes precedence over fallback_transport).' },
  { name: 'command_expansion_filter', default: FILTER, type: 'string', description: 'Characters allowed in values given to commands; others become "_".' },
  { name: 'forward_expansion_filter', default: FILTER, type: 'string', description: 'Characters allowed in forward_path expansions; others become "_".' },
  { name: 'local_command_shell', default: '', type: 'string', description: 'Shell (with its options) for commands; empty: direct exec or /bin/sh -c.' },
  { name: 'command_execution_directory', default: '', type: 'string', description: 'Working directory of commands (empty: the queue directory).' },
  { name: 'expand_owner_alias', default: 'no', type: 'bool', description: 'Use the expansion of owner-NAME as sender instead of the owner-NAME address.' },
  { name: 'owner_request_special', default: 'yes', type: 'bool', description: 'Give owner-NAME and NAME-request addresses special treatment.' },
  { name: 'duplicate_filter_limit', default: '1000', type: 'int', description: 'Destinations remembered per request for duplicate suppression.' },
  { name: 'enable_original_recipient', default: 'yes', type: 'bool', description: 'Keep and deliver the original recipient (X-Original-To:).' },
  { name: 'mailbox_size_limit', default: '51200000', type: 'int', description: 'The largest mailbox or file size in bytes (0: no limit).' },
  { name: 'prepend_delivered_header', default: 'command, file, forward', type: 'list', description: 'Deliveries that get a Delivered-To: header: command, file, forward.' },
  { name: 'strict_mailbox_ownership', default: 'yes', type: 'bool', description: 'Defer delivery to a spool mailbox owned by someone else.' },
  { name: 'mailbox_delivery_lock', default: 'fcntl, dotlock', type: 'list', description: 'Mailbox locking methods: fcntl, flock, dotlock.' },
  { name: 'deliver_lock_attempts', default: '20', type: 'int', description: 'Attempts to lock a mailbox or file.' },
  { name: 'deliver_lock_delay', default: '1s', type: 'time', description: 'Delay between lock attempts.' },
  { name: 'stale_lock_time', default: '500s', type: 'time', description: 'Age after which a dotlock file is removed as stale.' },
  { name: 'local_delivery_status_filter', default: '$default_delivery_status_filter', type: 'table', description: 'Tables that replace the status code and text of a local(8) delivery before it is logged and reported (e.g. to hide the command or file name from success notices); see default_delivery_status_filter.' },
  { name: 'local_destination_concurrency_limit', default: '2', type: 'int', description: 'Parallel deliveries to one local recipient (qmgr).' },
  { name: 'local_destination_recipient_limit', default: '1', type: 'int', description: 'Recipients per local delivery request (qmgr).' },
];

export const plugin = definePlugin({
  name: '@postern/plugin-local',
  version: '0.1.0',
  core: '^0.1.0',
  commands: {
    local: {
      description: 'local(8): deliver to aliases, .forward files, mailboxes, commands and files',
      load: () => import('./local.js'),
    },
  },
  parameters: LOCAL_PARAMETERS,
  provides: [SERVICE.LOCAL],
  uses: [SERVICE.CLEANUP, SERVICE.BOUNCE],
  mayUse: [SERVICE.FLUSH, SERVICE.VERIFY],
});
