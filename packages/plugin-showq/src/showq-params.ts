import { SERVICE, type ParameterSpec } from '@postern/core';

/** The main.cf parameters showq(8) reads (Postfix names and defaults). */
export const PARAMETERS: readonly ParameterSpec[] = [
  {
    name: 'empty_address_recipient',
    default: 'MAILER-DAEMON',
    type: 'string',
    description: 'What the listing shows for the null sender address.',
  },
  {
    name: 'showq_service_name',
    default: SERVICE.SHOWQ,
    type: 'string',
    description: 'The name of the showq(8) service (master.cf).',
  },
];
