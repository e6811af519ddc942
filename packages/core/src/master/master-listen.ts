/**
 * master's endpoints (master_listen.c): every enabled master.cf service gets
 * its listening sockets here, in master, before any service process exists.
 * inet services listen on their host:port (or on each inet_interfaces
 * address), unix services on queue_directory/{public,private}/NAME, fifo
 * services on a named pipe there. unix-dgram sockets have no Node.js API: they
 * are served as unix stream sockets at the same path (documented). pass
 * services have no socket of their own: other services hand them connections
 * through master.
 *
 * Like Postfix's master (master_avail.c), master watches an inet socket only
 * while no service process holds it: once a process listens on it, the
 * process accepts and master keeps a spare descriptor it does not watch, so
 * it neither competes for connections nor lets the socket close. (A unix
 * socket stays watched: closing master's server would unlink its path.)
 */
import { createServer, Socket, type Server } from 'node:net';
import { chmodSync, chownSync, constants as fsc, mkdirSync, openSync, rmSync, statSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import type { MasterEntry } from '../contracts/service.js';
import type { ConfigView } from '../contracts/config.js';
import { MAIL_CLASS } from '../protocol/services.js';
import { posternError } from '../errors.js';
import { parseInetService } from '../config/index.js';

export interface Endpoint {
  /** What the log and `postern status` call it: "127.0.0.1:2525", "private/cleanup". */
  readonly label: string;
  /** The listening sockets master hands to service processes (none for fifo and pass). */
  readonly sockets: readonly SharedSocket[];
  /**
   * Only local clients can reach it: a unix socket or fifo, or an inet service
   * on loopback addresses alone (Postfix's MASTER_FLAG_LOCAL_ONLY). Such a
   * service never enters stress mode.
   */
  readonly localOnly?: boolean;
  close(): Promise<void>;
}

/** A libuv TCP or Pipe handle, as Node passes it between processes ("net.Native"). */
export interface SocketHandle {
  close(): void;
}

/**
 * One listening socket shared by master and the service processes. Either
 * master watches it (a Server that accepts, for on-demand start) or master
 * holds a spare descriptor of it that nothing watches.
 */
export class SharedSocket {
  private spare: SocketHandle | undefined;
  private closed = false;

  constructor(
    private server: Server | undefined,
    private readonly newServer: () => Server,
    /** inet: master may stop watching. */
    private readonly canRest: boolean,
  ) {}

  /** The handle to give a service process. */
  get handle(): SocketHandle | undefined {
    return (this.server as unknown as { _handle?: SocketHandle } | undefined)?._handle ?? this.spare;
  }

  /** True when master has no spare yet: the next process should lend one back. */
  get wantsSpare(): boolean {
    return this.canRest && !this.spare && !this.closed;
  }

  /** A descriptor of this socket that a service process lent back. */
  keepSpare(handle: SocketHandle): void {
    if (this.spare || this.closed) handle.close();
    else this.spare = handle;
  }

  /** watch(true): master accepts (no process holds the socket); watch(false): it leaves accepting to them. */
  watch(on: boolean): void {
    if (this.closed) return;
    if (on && !this.server && this.spare) {
      const server = this.newServer();
      server.listen(this.spare as never);
      this.server = server;
      this.spare = undefined;
    } else if (!on && this.server && this.spare) {
      this.server.close();
      this.server = undefined;
    }
  }

  close(): void {
    this.closed = true;
    this.server?.close();
    this.spare?.close();
    this.server = undefined;
    this.spare = undefined;
  }
}

export interface EndpointEvents {
  /** A connection master accepted itself (no process was free to take it). */
  connection(socket: Socket): void;
  /** Bytes written to a fifo service. */
  trigger(data: Buffer): void;
}

/** 127.0.0.0/8, ::1 and localhost (sock_addr_in_loopback). */
function isLoopback(host: string): boolean {
  const h = host.toLowerCase();
  return h === 'localhost' || h === '::1' || /^127\./.test(h) || /^::ffff:127\./.test(h);
}

/** The addresses an inet service without a host part listens on (inet_interfaces, inet_protocols). */
export function inetAddresses(config: ConfigView): string[] {
  const protocols = config.list('inet_protocols').map((p) => p.toLowerCase());
  const v4 = protocols.includes('all') || protocols.includes('ipv4');
  const v6 = protocols.includes('all') || protocols.includes('ipv6');
  const out: string[] = [];
  for (const iface of config.list('inet_interfaces')) {
    const i = iface.toLowerCase();
    if (i === 'all') {
      if (v6) out.push('::');
      else if (v4) out.push('0.0.0.0');
    } else if (i === 'loopback-only' || i === 'localhost') {
      if (v4) out.push('127.0.0.1');
      if (v6) out.push('::1');
    } else out.push(iface.replace(/^\[|\]$/g, ''));
  }
  return [...new Set(out)];
}

/**
 * Listens; an inet port in use is tried again for up to `inUseWait` ms (after
 * a master was killed, its processes hold its sockets until they notice and leave).
 */
async function listen(server: Server, options: { host?: string; port?: number; path?: string }, label: string, entry: MasterEntry, inUseWait = 0): Promise<void> {
  const deadline = Date.now() + inUseWait;
  for (;;) {
    try {
      return await listenOnce(server, options, label, entry);
    } catch (err) {
      if (options.path || (err as { detail?: string }).detail !== 'EADDRINUSE' || Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function listenOnce(server: Server, options: { host?: string; port?: number; path?: string }, label: string, entry: MasterEntry): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const hint =
        err.code === 'EADDRINUSE'
          ? 'another program is listening there; stop it or change the service name in master.cf'
          : err.code === 'EACCES'
            ? 'ports below 1024 need root; use a port above 1024 in master.cf'
            : `check master.cf line ${entry.line}`;
      reject(Object.assign(posternError('POSTERN_ERR_LISTEN', `${entry.name}/${entry.type}`, label, err.code ?? err.message, hint), { detail: err.code }));
    };
    server.once('error', onError);
    const done = () => {
      server.off('error', onError);
      resolve();
    };
    if (options.path) server.listen({ path: options.path, backlog: 511 }, done);
    else server.listen({ host: options.host, port: options.port, backlog: 511, ipv6Only: options.host === '::' ? false : undefined }, done);
  });
}

/** A unix-domain path, removing a stale socket left by a dead master. */
function prepareSocketPath(path: string): void {
  mkdirSync(dirname(path), { recursive: true });
  try {
    if (statSync(path).isSocket()) rmSync(path);
  } catch {
    /* no such file */
  }
}

/**
 * Opens the endpoint of `entry`. When unprivileged services run as another
 * account, unix sockets and fifos belong to it (mode 0600 for private ones).
 */
export async function openEndpoint(
  entry: MasterEntry,
  config: ConfigView,
  owner: { uid: number; gid: number } | undefined,
  events: EndpointEvents,
  /** How long to wait for an inet port still held by a killed master's processes (ms). */
  inUseWait = 0,
): Promise<Endpoint> {
  const newServer = () => {
    const s = createServer({ pauseOnConnect: true }, (socket) => events.connection(socket));
    s.on('error', () => undefined);
    return s;
  };
  // Stop listening at once. close()'s callback would wait for every connection
  // master ever handed to a service process, which those processes own now.
  const closeAll = (servers: Server[], extra?: () => void) => async () => {
    extra?.();
    for (const s of servers) s.close();
  };
  const shared = (servers: Server[], inet: boolean, extra?: () => void): Pick<Endpoint, 'sockets' | 'close'> => {
    const sockets = servers.map((s) => new SharedSocket(s, newServer, inet));
    return {
      sockets,
      close: async () => {
        extra?.();
        for (const s of sockets) s.close();
      },
    };
  };

  switch (entry.type) {
    case 'inet': {
      const svc = parseInetService(entry.name);
      const hosts = svc.host ? [svc.host] : inetAddresses(config);
      const servers: Server[] = [];
      try {
        for (const host of hosts) {
          const s = newServer();
          await listen(s, { host, port: svc.port }, host.includes(':') ? `[${host}]:${svc.port}` : `${host}:${svc.port}`, entry, inUseWait);
          servers.push(s);
        }
      } catch (err) {
        await closeAll(servers)();
        throw err;
      }
      const label = hosts.map((h) => (h.includes(':') ? `[${h}]:${svc.port}` : `${h}:${svc.port}`)).join(',');
      return { label, localOnly: hosts.every(isLoopback), ...shared(servers, true) };
    }
    case 'unix':
    case 'unix-dgram': {
      const cls = entry.private ? MAIL_CLASS.PRIVATE : MAIL_CLASS.PUBLIC;
      const path = join(config.get('queue_directory'), cls, entry.name);
      prepareSocketPath(path);
      const s = newServer();
      await listen(s, { path }, path, entry);
      // public sockets are for local users (sendmail, postqueue); private ones for the mail system
      chmodSync(path, entry.private ? 0o600 : 0o666);
      if (owner) chownSync(path, owner.uid, owner.gid);
      return { label: `${cls}/${entry.name}`, localOnly: true, ...shared([s], false, () => rmSync(path, { force: true })) };
    }
    case 'fifo': {
      const cls = entry.private ? MAIL_CLASS.PRIVATE : MAIL_CLASS.PUBLIC;
      const path = join(config.get('queue_directory'), cls, entry.name);
      mkdirSync(dirname(path), { recursive: true });
      rmSync(path, { force: true });
      execFileSync('mkfifo', ['-m', entry.private ? '600' : '622', path]);
      if (owner) chownSync(path, owner.uid, owner.gid);
      // O_RDWR keeps the fifo open when writers come and go (Postfix's fifo_listen does the same)
      const fd = openSync(path, fsc.O_RDWR | fsc.O_NONBLOCK);
      const reader = new Socket({ fd, readable: true, writable: false });
      reader.on('data', (data: Buffer) => events.trigger(data));
      reader.on('error', () => undefined);
      return {
        label: `${cls}/${entry.name}`,
        sockets: [],
        localOnly: true,
        close: async () => {
          reader.destroy();
          rmSync(path, { force: true });
        },
      };
    }
    case 'pass':
      return { label: `pass/${entry.name}`, sockets: [], close: async () => undefined };
  }
}
