/**
 * Messages between service processes, through master. A Node.js process can
 * pass a descriptor only to its parent or its children, so a service that
 * hands a socket to another (an smtp process giving a parked session to
 * another through scache, as Postfix's smtp does by descriptor passing)
 * sends it to master, which forwards it to the process with that pid.
 *
 * Outside master (a service run in-process by a test or an embedder) there
 * is no relay: relay() returns false.
 */
export type RelayListener = (from: number, data: unknown, handle: unknown) => void;

const listeners = new Set<RelayListener>();
let sender: ((to: number, data: unknown, handle?: unknown) => boolean) | undefined;

/** master-child: how relay() reaches master. */
export function setRelaySender(send: (to: number, data: unknown, handle?: unknown) => boolean): void {
  sender = send;
}

/** True when this process runs under master and can relay. */
export function relayAvailable(): boolean {
  return sender !== undefined;
}

/** Sends `data` (and a socket, if any) to the service process `to`; false without master. */
export function relay(to: number, data: unknown, handle?: unknown): boolean {
  return sender ? sender(to, data, handle) : false;
}

/** Calls `listener` for each relayed message; returns an unsubscribe function. */
export function onRelay(listener: RelayListener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/** master-child: a relayed message arrived. */
export function dispatchRelay(from: number, data: unknown, handle: unknown): void {
  if (listeners.size === 0) {
    (handle as { destroy?: () => void } | undefined)?.destroy?.();
    return;
  }
  for (const l of listeners) l(from, data, handle);
}

let passer: ((service: string, socket: unknown) => boolean) | undefined;

/** master-child: how passConnection() reaches master. */
export function setPassSender(send: (service: string, socket: unknown) => boolean): void {
  passer = send;
}

/**
 * Hands an accepted client connection to master.cf's `service` of type pass
 * (postscreen -> smtpd, as Postfix's postscreen does with its descriptor);
 * master gives it to one of that service's processes. The socket must not
 * have buffered unread input: it is closed in this process once sent. False
 * without master (the caller keeps the socket).
 */
export function passConnection(service: string, socket: unknown): boolean {
  return passer ? passer(service, socket) : false;
}
