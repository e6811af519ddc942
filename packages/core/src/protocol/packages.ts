/**
 * Which Postern package provides each Postfix command (master.cf's command
 * column), so a missing provider is reported with the package to install.
 */
export const COMMAND_PACKAGES: Readonly<Record<string, string>> = {
  smtpd: '@postern/plugin-smtpd',
  qmqpd: '@postern/plugin-qmqpd',
  pickup: '@postern/plugin-pickup',
  cleanup: '@postern/plugin-cleanup',
  'trivial-rewrite': '@postern/plugin-trivial-rewrite',
  qmgr: '@postern/plugin-qmgr',
  oqmgr: '@postern/plugin-qmgr',
  bounce: '@postern/plugin-bounce',
  local: '@postern/plugin-local',
  virtual: '@postern/plugin-virtual',
  pipe: '@postern/plugin-pipe',
  smtp: '@postern/plugin-smtp',
  lmtp: '@postern/plugin-lmtp',
  discard: '@postern/plugin-discard',
  error: '@postern/plugin-error',
  anvil: '@postern/plugin-anvil',
  scache: '@postern/plugin-scache',
  verify: '@postern/plugin-verify',
  flush: '@postern/plugin-flush',
  showq: '@postern/plugin-showq',
  tlsmgr: '@postern/plugin-tlsmgr',
  proxymap: '@postern/plugin-proxymap',
  postscreen: '@postern/plugin-postscreen',
  postlogd: '@postern/plugin-postlogd',
  dnsblog: '@postern/plugin-postscreen',
  tlsproxy: '@postern/plugin-tlsproxy',
  spawn: '@postern/plugin-spawn',
};

/** The package that provides each contract (for "uses X, which nothing provides"). */
export const CONTRACT_PACKAGES: Readonly<Record<string, string>> = {
  cleanup: '@postern/plugin-cleanup',
  rewrite: '@postern/plugin-trivial-rewrite',
  qmgr: '@postern/plugin-qmgr',
  bounce: '@postern/plugin-bounce',
  anvil: '@postern/plugin-anvil',
  scache: '@postern/plugin-scache',
  verify: '@postern/plugin-verify',
  flush: '@postern/plugin-flush',
  showq: '@postern/plugin-showq',
  tlsmgr: '@postern/plugin-tlsmgr',
};

/** Contracts core itself provides in every process. */
export const CORE_CONTRACTS: readonly string[] = ['queue', 'tables', 'config', 'logger'];
