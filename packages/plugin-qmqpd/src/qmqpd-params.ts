/** qmqpd(8)'s parameters, with Postfix's names and defaults (postconf -d). */
import type { ParameterSpec } from '@postern/core';

export const QMQPD_PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'qmqpd_authorized_clients',
    default: '',
    type: 'list',
    description: 'What remote QMQP clients may use the server: network/mask, host or domain names, /file, type:table, "!" to exclude (empty: none).',
  },
  {
    name: 'qmqpd_timeout',
    default: '300s',
    type: 'time',
    unit: 's',
    description: 'How long the QMQP server waits for a client to send or receive data.',
  },
  {
    name: 'qmqpd_error_delay',
    default: '1s',
    type: 'time',
    unit: 's',
    description: 'How long the QMQP server pauses before it sends a negative reply.',
  },
  {
    name: 'qmqpd_client_port_logging',
    default: 'no',
    type: 'bool',
    description: 'Log the client port with the client name and address.',
  },
];
