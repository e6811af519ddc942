/**
 * Service names (mail_proto.h's MAIL_SERVICE_*): the master.cf service names
 * through which Postern's daemons reach each other. No other file spells these.
 */
export const SERVICE = {
  CLEANUP: 'cleanup',
  REWRITE: 'rewrite',
  QMGR: 'qmgr',
  PICKUP: 'pickup',
  BOUNCE: 'bounce',
  DEFER: 'defer',
  TRACE: 'trace',
  VERIFY: 'verify',
  FLUSH: 'flush',
  SHOWQ: 'showq',
  ANVIL: 'anvil',
  SCACHE: 'scache',
  TLSMGR: 'tlsmgr',
  PROXYMAP: 'proxymap',
  POSTLOG: 'postlog',
  LOCAL: 'local',
  VIRTUAL: 'virtual',
  SMTP: 'smtp',
  RELAY: 'relay',
  LMTP: 'lmtp',
  ERROR: 'error',
  RETRY: 'retry',
  DISCARD: 'discard',
  /** postscreen's DNS allow/denylist lookups (dnsblog_service_name). */
  DNSBLOG: 'dnsblog',
  /** postscreen's TLS engine (tlsproxy_service_name). */
  TLSPROXY: 'tlsproxy',
  /** The pass service postscreen hands accepted connections to (smtpd_service_name). */
  SMTPD: 'smtpd',
} as const;
export type ServiceName = (typeof SERVICE)[keyof typeof SERVICE];

/** master.cf service classes: the directories under queue_directory for unix sockets. */
export const MAIL_CLASS = { PUBLIC: 'public', PRIVATE: 'private' } as const;
export type MailClass = (typeof MAIL_CLASS)[keyof typeof MAIL_CLASS];

/** Trigger requests (mail_proto.h): single bytes written to a trigger service. */
export const TRIGGER = {
  WAKEUP: 'W',
  /** qmgr: scan the incoming queue. */
  SCAN_INCOMING: 'I',
  /** qmgr: scan the deferred queue. */
  SCAN_DEFERRED: 'D',
  /** qmgr: ignore time stamps on the next scan. */
  SCAN_ALL: 'A',
  /** qmgr: forget dead transports and destinations. */
  FLUSH_DEAD: 'F',
} as const;

/**
 * The class (socket directory) each internal service listens in, as the
 * Postfix clients of these services assume it (master.cf's private column).
 */
export const SERVICE_CLASS: Readonly<Record<string, MailClass>> = {
  [SERVICE.CLEANUP]: MAIL_CLASS.PUBLIC,
  [SERVICE.QMGR]: MAIL_CLASS.PUBLIC,
  [SERVICE.PICKUP]: MAIL_CLASS.PUBLIC,
  [SERVICE.SHOWQ]: MAIL_CLASS.PUBLIC,
  [SERVICE.FLUSH]: MAIL_CLASS.PUBLIC,
  [SERVICE.POSTLOG]: MAIL_CLASS.PUBLIC,
};

/** The class of `service`: public for the services above, private for the rest. */
export function serviceClass(service: string): MailClass {
  return SERVICE_CLASS[service] ?? MAIL_CLASS.PRIVATE;
}
