/**
 * smtpd's SASL backends (Postfix's xsasl_server): the client side of
 * Dovecot's authentication protocol (smtpd_sasl_type = dovecot, the socket
 * at smtpd_sasl_path), and Postern's lookup-table backend for setups without
 * Dovecot (smtpd_sasl_type = postern-table, users in
 * postern_sasl_password_maps) with the PLAIN and LOGIN mechanisms.
 */
import { connect, type Socket } from 'node:net';
import { isAbsolute, join } from 'node:path';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type {
  ConfigView,
  Logger,
  SaslClientInfo,
  SaslSecurityOptions,
  SaslServer,
  SaslStartRequest,
  SaslStep,
  TableRegistry,
} from '@postern/core';

/** smtpd_sasl_security_options as flags. */
export function securityOptions(list: readonly string[]): SaslSecurityOptions {
  const o: Record<string, boolean> = {};
  for (const w of list) o[w.toLowerCase()] = true;
  return o;
}

const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64');

// ---- Dovecot ---------------------------------------------------------------------

interface DovecotMech {
  readonly name: string;
  readonly flags: ReadonlySet<string>;
}

/**
 * A client of Dovecot's auth server (doc: "Dovecot SASL protocol", version 1.x):
 * VERSION/CPID handshake, MECH list, then AUTH/CONT requests by id.
 */
export class DovecotSasl implements SaslServer {
  private socket: Socket | undefined;
  private ready: Promise<void> | undefined;
  private mechs: DovecotMech[] = [];
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<string, (line: string[]) => void>();

  constructor(
    private readonly path: string,
    private readonly log: Logger,
    private readonly timeoutMs = 30000,
  ) {}

  private open(): Promise<void> {
    if (this.ready && this.socket && !this.socket.destroyed) return this.ready;
    this.mechs = [];
    this.buffer = '';
    this.ready = new Promise<void>((resolve, reject) => {
      const inet = /^inet:(.+):(\d+)$/.exec(this.path);
      const socket = inet ? connect(Number(inet[2]), inet[1]!.replace(/^\[|\]$/g, '')) : connect(this.path);
      this.socket = socket;
      let handshake = true;
      const fail = (err: Error) => {
        if (handshake) reject(new Error(`connect to Dovecot auth socket ${this.path}: ${err.message}`));
      };
      socket.setEncoding('utf8');
      socket.once('error', fail);
      socket.on('error', () => undefined);
      socket.setTimeout(this.timeoutMs, () => socket.destroy(new Error('timeout')));
      socket.on('connect', () => socket.write(`VERSION\t1\t2\nCPID\t${process.pid}\n`));
      socket.on('data', (chunk: string) => {
        this.buffer += chunk;
        let nl: number;
        while ((nl = this.buffer.indexOf('\n')) >= 0) {
          const line = this.buffer.slice(0, nl).split('\t');
          this.buffer = this.buffer.slice(nl + 1);
          if (handshake) {
            if (line[0] === 'VERSION' && line[1] !== '1') {
              socket.destroy();
              return fail(new Error(`unsupported protocol version ${line[1]}`));
            }
            if (line[0] === 'MECH' && line[1]) this.mechs.push({ name: line[1].toUpperCase(), flags: new Set(line.slice(2)) });
            if (line[0] === 'DONE') {
              handshake = false;
              socket.setTimeout(0);
              resolve();
            }
            continue;
          }
          const id = line[1];
          const waiter = id ? this.pending.get(id) : undefined;
          if (waiter) {
            this.pending.delete(id!);
            waiter(line);
          }
        }
      });
      socket.on('close', () => {
        if (handshake) fail(new Error('connection closed during handshake'));
        for (const [id, w] of this.pending) {
          this.pending.delete(id);
          w(['FAIL', id, 'temp', 'reason=Dovecot auth server connection lost']);
        }
        if (this.socket === socket) {
          this.socket = undefined;
          this.ready = undefined;
        }
      });
    });
    return this.ready;
  }

  async mechanisms(options: SaslSecurityOptions): Promise<string[]> {
    await this.open();
    return this.mechs
      .filter((m) => {
        const f = m.flags;
        if (f.has('private')) return false;
        if (options.noanonymous && f.has('anonymous')) return false;
        if (options.noplaintext && f.has('plaintext')) return false;
        if (options.nodictionary && f.has('dictionary')) return false;
        if (options.noactive && f.has('active')) return false;
        if (options.mutual_auth && !f.has('mutual-auth')) return false;
        if (options.forward_secrecy && !f.has('forward-secrecy')) return false;
        return true;
      })
      .map((m) => m.name);
  }

  private request(id: string, text: string): Promise<SaslStep> {
    return new Promise<SaslStep>((resolve) => {
      this.pending.set(id, (line) => resolve(this.parseReply(id, line)));
      this.socket!.write(text);
    });
  }

  private parseReply(id: string, line: string[]): SaslStep {
    const params = new Map<string, string>();
    for (const p of line.slice(2)) {
      const eq = p.indexOf('=');
      params.set(eq < 0 ? p : p.slice(0, eq), eq < 0 ? '' : p.slice(eq + 1));
    }
    switch (line[0]) {
      case 'OK':
        return { status: 'ok', id, username: params.get('user') ?? '' };
      case 'CONT':
        return { status: 'continue', id, challenge: line[2] ?? '' };
      default:
        return {
          status: 'fail',
          id,
          reason: params.get('reason') ?? 'authentication failure',
          temporary: params.has('temp'),
        };
    }
  }

  async start(request: SaslStartRequest): Promise<SaslStep> {
    const id = String(this.nextId++);
    try {
      await this.open();
    } catch (err) {
      this.log.warn(`SASL: ${(err as Error).message}`);
      return { status: 'fail', id, reason: 'SASL authentication server not available', temporary: true };
    }
    const mech = this.mechs.find((m) => m.name === request.mechanism.toUpperCase());
    if (!mech) return { status: 'fail', id, reason: 'Invalid authentication mechanism' };
    const c = request.client;
    let line = `AUTH\t${id}\t${mech.name}\tservice=${c.service}\tnologin`;
    if (c.localAddress) line += `\tlip=${c.localAddress}`;
    if (c.address) line += `\trip=${c.address}`;
    if (c.localPort) line += `\tlport=${c.localPort}`;
    if (c.port) line += `\trport=${c.port}`;
    if (c.secured) line += '\tsecured';
    if (request.initialResponse !== undefined) line += `\tresp=${request.initialResponse}`;
    return this.request(id, `${line}\n`);
  }

  step(id: string, response: string): Promise<SaslStep> {
    if (!this.socket || this.socket.destroyed)
      return Promise.resolve({ status: 'fail', id, reason: 'Dovecot auth server connection lost', temporary: true });
    return this.request(id, `CONT\t${id}\t${response}\n`);
  }

  async abort(id: string): Promise<void> {
    this.pending.delete(id);
  }

  async close(): Promise<void> {
    this.socket?.destroy();
    this.socket = undefined;
    this.ready = undefined;
  }
}

// ---- Postern table backend -------------------------------------------------------------

/** Checks `password` against a stored {SCHEME}value (bare value = plain text). */
export function verifyPassword(stored: string, password: string): boolean {
  const m = /^\{([A-Z0-9.-]+)\}(.*)$/i.exec(stored);
  const scheme = m ? m[1]!.toUpperCase() : 'PLAIN';
  const value = m ? m[2]! : stored;
  const eq = (a: Buffer, b: Buffer) => a.length === b.length && timingSafeEqual(a, b);
  switch (scheme) {
    case 'PLAIN':
    case 'CLEARTEXT':
      return eq(Buffer.from(value), Buffer.from(password));
    case 'SHA256':
    case 'SHA512': {
      const alg = scheme === 'SHA256' ? 'sha256' : 'sha512';
      return eq(createHash(alg).update(password).digest(), unb64(value));
    }
    case 'SSHA256':
    case 'SSHA512': {
      const alg = scheme === 'SSHA256' ? 'sha256' : 'sha512';
      const raw = unb64(value);
      const len = alg === 'sha256' ? 32 : 64;
      if (raw.length <= len) return false;
      const salt = raw.subarray(len);
      return eq(createHash(alg).update(password).update(salt).digest(), raw.subarray(0, len));
    }
    default:
      return false;
  }
}

interface TableExchange {
  readonly mech: 'PLAIN' | 'LOGIN';
  username?: string;
}

/**
 * Postern extension: PLAIN and LOGIN checked against a lookup table of
 * username -> password (postern_sasl_password_maps).
 */
export class TableSasl implements SaslServer {
  private readonly exchanges = new Map<string, TableExchange>();

  constructor(
    private readonly tables: TableRegistry,
    private readonly spec: string,
    private readonly log: Logger,
  ) {}

  async mechanisms(options: SaslSecurityOptions): Promise<string[]> {
    // Both mechanisms send the password in plain text.
    return options.noplaintext ? [] : ['PLAIN', 'LOGIN'];
  }

  async start(request: SaslStartRequest): Promise<SaslStep> {
    const id = randomBytes(8).toString('hex');
    const mech = request.mechanism.toUpperCase();
    if (mech !== 'PLAIN' && mech !== 'LOGIN') return { status: 'fail', id, reason: 'Invalid authentication mechanism' };
    this.exchanges.set(id, { mech });
    if (request.initialResponse === undefined) {
      return { status: 'continue', id, challenge: mech === 'PLAIN' ? '' : b64('Username:') };
    }
    return this.step(id, request.initialResponse);
  }

  async step(id: string, response: string): Promise<SaslStep> {
    const ex = this.exchanges.get(id);
    if (!ex) return { status: 'fail', id, reason: 'Unknown authentication exchange' };
    if (!/^[A-Za-z0-9+/]*={0,2}$/.test(response)) {
      this.exchanges.delete(id);
      return { status: 'fail', id, reason: 'Invalid base64 data in continued response' };
    }
    const data = unb64(response).toString('utf8');
    if (ex.mech === 'LOGIN' && ex.username === undefined) {
      ex.username = data;
      return { status: 'continue', id, challenge: b64('Password:') };
    }
    this.exchanges.delete(id);
    let username: string;
    let password: string;
    if (ex.mech === 'PLAIN') {
      const parts = data.split('\0');
      if (parts.length !== 3) return { status: 'fail', id, reason: 'Invalid authentication data' };
      const [authzid, authcid, pw] = parts as [string, string, string];
      if (authzid && authzid !== authcid) return { status: 'fail', id, reason: 'authorization identity differs from authentication identity' };
      username = authcid;
      password = pw;
    } else {
      username = ex.username!;
      password = data;
    }
    if (!username || /[\x00-\x1f\x7f]/.test(username)) return { status: 'fail', id, reason: 'Invalid authentication data' };
    let stored: string | undefined;
    try {
      for (const table of this.tables.openList(this.spec)) {
        stored = await table.lookup(username);
        if (stored !== undefined) break;
      }
    } catch (err) {
      this.log.warn(`postern_sasl_password_maps lookup for "${username}": ${(err as Error).message}`);
      return { status: 'fail', id, reason: 'Temporary lookup failure', temporary: true };
    }
    if (stored !== undefined && verifyPassword(stored.trim(), password)) return { status: 'ok', id, username };
    return { status: 'fail', id, reason: 'authentication failure' };
  }

  async abort(id: string): Promise<void> {
    this.exchanges.delete(id);
  }
}

/** The SASL backend smtpd_sasl_type names. */
export function createSaslServer(config: ConfigView, tables: TableRegistry | undefined, log: Logger): SaslServer {
  const type = config.get('smtpd_sasl_type').trim().toLowerCase();
  if (type === 'dovecot') {
    const p = config.get('smtpd_sasl_path');
    const path = p.startsWith('inet:') || isAbsolute(p) ? p : join(config.get('queue_directory'), p);
    return new DovecotSasl(path, log);
  }
  if (type === 'postern-table') {
    if (!tables) throw new Error('smtpd_sasl_type = postern-table needs the table registry');
    return new TableSasl(tables, config.get('postern_sasl_password_maps'), log);
  }
  throw new Error(`unsupported SASL server implementation: ${type} (use dovecot or postern-table)`);
}

export type { SaslClientInfo };
