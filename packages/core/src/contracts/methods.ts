/** The IPC method names of cleanup, trivial-rewrite, bounce and the delivery transports (the other contracts name theirs in their own file). */
export const METHOD = {
  CLEANUP_SUBMIT: 'submit',
  REWRITE: 'rewrite',
  RESOLVE: 'resolve',
  BOUNCE_APPEND: 'append',
  BOUNCE_NOTIFY: 'notify',
  DELIVER: 'deliver',
} as const;
