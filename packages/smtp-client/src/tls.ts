/**
 * The TLS client policy of smtp(8) and lmtp(8) (Postfix's smtp_tls_policy.c,
 * tls_client.c and TLS_README):
 *
 *   none     no STARTTLS
 *   may      STARTTLS when offered, certificate not checked; a failed
 *            handshake is retried in plaintext
 *   encrypt  STARTTLS required, certificate not checked
 *   verify   STARTTLS required, certificate chain (smtp_tls_CAfile,
 *            smtp_tls_CApath) and name (smtp_tls_verify_cert_match) checked
 *   secure   as verify, with smtp_tls_secure_cert_match
 *
 * Per-destination policies come from smtp_tls_policy_maps: the key is the
 * next-hop as written ("[host]:port", "domain"), then the parent domains
 * (".example.com"); the value is "level [match=a:b] [protocols=...]
 * [ciphers=grade] [exclude=a:b]".
 * Protocols and ciphers (tls-openssl.ts): smtp_tls_protocols and
 * smtp_tls_ciphers at the may level, smtp_tls_mandatory_protocols and
 * smtp_tls_mandatory_ciphers from encrypt up; smtp_tls_exclude_ciphers at
 * every level, plus smtp_tls_mandatory_exclude_ciphers from encrypt up, plus
 * aNULL where the certificate is verified.
 * The summary line is logged as Postfix does:
 *   Verified TLS connection established to mx.example.com[192.0.2.1]:25: TLSv1.3 with cipher TLS_AES_256_GCM_SHA384 (256/256 bits)
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type ConnectionOptions, type PeerCertificate, type TLSSocket } from 'node:tls';
import type { LookupTable } from '@postern/core';
import { mapsFind } from '@postern/address';
import { cipherList, protocolRange } from './tls-openssl.js';

export type TlsLevel = 'none' | 'may' | 'encrypt' | 'verify' | 'secure';
const LEVELS: ReadonlySet<string> = new Set(['none', 'may', 'encrypt', 'verify', 'secure']);

export interface TlsPolicy {
  readonly level: TlsLevel;
  /** Name patterns for verify/secure: hostname, nexthop, dot-nexthop, a name, or .domain. */
  readonly match: readonly string[];
  /** smtp_tls_protocols / smtp_tls_mandatory_protocols, or protocols= from the policy table. */
  readonly protocols: string;
  /** The cipher grade: smtp_tls_ciphers / smtp_tls_mandatory_ciphers, or ciphers= from the policy table. */
  readonly ciphers: string;
  /** The cipher exclusion lists that apply at this level (and exclude= from the policy table). */
  readonly exclusions: readonly string[];
}

export interface TlsSettings {
  /** smtp_tls_security_level ("" = none). */
  readonly level: string;
  readonly verifyMatch: readonly string[];
  readonly secureMatch: readonly string[];
  readonly protocols: string;
  readonly mandatoryProtocols: string;
  readonly ciphers: string;
  readonly mandatoryCiphers: string;
  readonly excludeCiphers: string;
  readonly mandatoryExcludeCiphers: string;
  /** Reads tls_<grade>_cipherlist. */
  readonly cipherlist: (parameter: string) => string;
  readonly caFile: string;
  readonly caPath: string;
  readonly certFile: string;
  readonly keyFile: string;
  readonly policyTables: readonly LookupTable[];
  /** The files as readTlsFiles read them before the privilege drop (path -> content). */
  readonly files?: TlsFileContents;
}

/** TLS files read while the process was privileged: a path (a CApath directory: its certificates) and its content. */
export type TlsFileContents = ReadonlyMap<string, Buffer>;

/**
 * Reads the CA file, the CA directory's certificates, the certificate and the
 * key (Postfix's smtp and lmtp read them in pre_init, as root: a client key is
 * often readable by root alone). A file that cannot be read is left out; the
 * handshake that needs it meets the same error.
 */
export function readTlsFiles(settings: Pick<TlsSettings, 'caFile' | 'caPath' | 'certFile' | 'keyFile'>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const keyFile = settings.keyFile || settings.certFile;
  for (const path of [settings.caFile, settings.certFile, keyFile]) {
    if (!path || out.has(path)) continue;
    try {
      out.set(path, readFileSync(path));
    } catch {
      /* met again at the handshake */
    }
  }
  if (settings.caPath) {
    try {
      out.set(settings.caPath, Buffer.concat(readCaPath(settings.caPath).flatMap((b) => [b, Buffer.from('\n')])));
    } catch {
      /* met again at the handshake */
    }
  }
  return out;
}

/** Parses a level name; "" is none. */
export function tlsLevel(text: string): TlsLevel | undefined {
  const t = text.trim().toLowerCase() || 'none';
  if (t === 'fingerprint' || t === 'dane' || t === 'dane-only') return 'secure';
  return LEVELS.has(t) ? (t as TlsLevel) : undefined;
}

/** The policy-table keys of a destination: as written, then the parent domains. */
export function policyKeys(destination: string, host: string, mx: boolean): string[] {
  const keys = [destination.toLowerCase()];
  if (mx) {
    const labels = host.split('.');
    for (let i = 1; i < labels.length; i++) keys.push(`.${labels.slice(i).join('.')}`);
  }
  return keys;
}

/** The policy of one destination (smtp_tls_policy_maps, else the global level). */
export async function tlsPolicy(
  settings: TlsSettings,
  destination: string,
  host: string,
  mx: boolean,
): Promise<TlsPolicy | { readonly error: string }> {
  for (const key of policyKeys(destination, host, mx)) {
    const hit = await mapsFind(settings.policyTables, key, { partial: key !== destination.toLowerCase() });
    if (!hit) continue;
    const words = hit.value.trim().split(/\s+/).filter(Boolean);
    const level = tlsLevel(words[0] ?? '');
    if (!level) return { error: `TLS policy lookup for ${destination}: invalid TLS security level: "${words[0] ?? ''}"` };
    let match: string[] | undefined;
    let protocols: string | undefined;
    let ciphers: string | undefined;
    const exclude: string[] = [];
    for (const w of words.slice(1)) {
      const eq = w.indexOf('=');
      const name = eq < 0 ? w : w.slice(0, eq).toLowerCase();
      const value = eq < 0 ? '' : w.slice(eq + 1);
      if (name === 'match') match = value.split(':').filter(Boolean);
      else if (name === 'protocols') protocols = value.replace(/:/g, ' ');
      else if (name === 'ciphers') ciphers = value;
      else if (name === 'exclude') exclude.push(value);
    }
    return {
      level,
      match: match ?? (level === 'secure' ? settings.secureMatch : settings.verifyMatch),
      protocols: protocols ?? (level === 'may' ? settings.protocols : settings.mandatoryProtocols),
      ciphers: ciphers ?? (level === 'may' ? settings.ciphers : settings.mandatoryCiphers),
      exclusions: [...levelExclusions(settings, level), ...exclude],
    };
  }
  const level = tlsLevel(settings.level);
  if (!level) return { error: `invalid smtp_tls_security_level: "${settings.level}"` };
  return {
    level,
    match: level === 'secure' ? settings.secureMatch : settings.verifyMatch,
    protocols: level === 'may' ? settings.protocols : settings.mandatoryProtocols,
    ciphers: level === 'may' ? settings.ciphers : settings.mandatoryCiphers,
    exclusions: levelExclusions(settings, level),
  };
}

/** The main.cf cipher exclusions of a level (Postfix's smtp_tls_policy.c). */
function levelExclusions(settings: TlsSettings, level: TlsLevel): string[] {
  const out = [settings.excludeCiphers];
  if (level !== 'may' && level !== 'none') out.push(settings.mandatoryExcludeCiphers);
  // a verified peer has a certificate: anonymous ciphers cannot serve it
  if (level === 'verify' || level === 'secure') out.push('aNULL');
  return out.filter((e) => e.trim());
}

function readCaPath(dir: string): Buffer[] {
  const out: Buffer[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    try {
      if (!statSync(p).isFile()) continue;
      const data = readFileSync(p);
      if (data.includes('-----BEGIN CERTIFICATE-----')) out.push(data);
    } catch {
      /* unreadable entries are skipped, as OpenSSL does */
    }
  }
  return out;
}

/** The DNS names a certificate is issued to: subjectAltName DNS entries, else the CN. */
export function certificateNames(cert: PeerCertificate): string[] {
  const san = (cert.subjectaltname ?? '')
    .split(/,\s*/)
    .filter((s) => s.startsWith('DNS:'))
    .map((s) => s.slice(4).toLowerCase());
  if (san.length) return san;
  const cn = cert.subject?.CN;
  return cn ? [String(cn).toLowerCase()] : [];
}

function nameMatches(certName: string, want: string, subdomains: boolean): boolean {
  if (subdomains) return certName.endsWith(want) || (certName.startsWith('*.') && `.${certName.slice(2)}`.endsWith(want));
  if (certName === want) return true;
  if (certName.startsWith('*.')) {
    const dot = want.indexOf('.');
    return dot > 0 && want.slice(dot + 1) === certName.slice(2);
  }
  return false;
}

/** Postfix tls_check_name: does the certificate match one of the policy's names? */
export function certificateMatches(cert: PeerCertificate, match: readonly string[], hostname: string, nexthop: string): boolean {
  const names = certificateNames(cert);
  for (const m of match) {
    const lm = m.toLowerCase();
    let want: string;
    let sub = false;
    if (lm === 'hostname') want = hostname.toLowerCase();
    else if (lm === 'nexthop') want = nexthop.toLowerCase();
    else if (lm === 'dot-nexthop') {
      want = `.${nexthop.toLowerCase()}`;
      sub = true;
    } else if (lm.startsWith('.')) {
      want = lm;
      sub = true;
    } else want = lm;
    if (names.some((n) => nameMatches(n, want, sub))) return true;
  }
  return false;
}

export interface TlsOptionsInput {
  readonly policy: TlsPolicy;
  readonly settings: TlsSettings;
  /** The server's name (for SNI and hostname matching). */
  readonly hostname: string;
  /** The next-hop domain (for nexthop matching). */
  readonly nexthop: string;
  /** A cached session to resume (tlsmgr, smtp_tls_session_cache_database). */
  readonly session?: Buffer;
  /** Logs a warning (a protocol list Node.js can only approximate). */
  readonly warn?: (text: string) => void;
}

/**
 * tls.connect options for a policy; verify/secure fail the handshake on a bad
 * chain or name. Throws on an invalid protocol list or cipher grade (the
 * caller defers: "TLS is required, but our TLS engine is unavailable").
 */
export function tlsConnectOptions(input: TlsOptionsInput): ConnectionOptions {
  const { policy, settings, hostname, nexthop } = input;
  const range = protocolRange(policy.protocols);
  if (range.error) throw new Error(range.error);
  if (range.warning) input.warn?.(range.warning);
  const cipher = cipherList(policy.ciphers, policy.exclusions, settings.cipherlist);
  if ('error' in cipher) throw new Error(cipher.error);
  const opts: ConnectionOptions = { ciphers: cipher.ciphers };
  if (range.minVersion) opts.minVersion = range.minVersion;
  if (range.maxVersion) opts.maxVersion = range.maxVersion;
  const read = (path: string): Buffer => settings.files?.get(path) ?? readFileSync(path);
  const ca: Buffer[] = [];
  if (settings.caFile) ca.push(read(settings.caFile));
  if (settings.caPath) {
    const pre = settings.files?.get(settings.caPath);
    ca.push(...(pre ? [pre] : readCaPath(settings.caPath)));
  }
  if (ca.length) opts.ca = ca;
  if (settings.certFile) {
    opts.cert = read(settings.certFile);
    opts.key = read(settings.keyFile || settings.certFile);
  }
  if (!/^[\d.:]+$/.test(hostname)) opts.servername = hostname;
  if (input.session) opts.session = input.session;
  if (policy.level === 'verify' || policy.level === 'secure') {
    opts.rejectUnauthorized = true;
    opts.checkServerIdentity = (_host, cert) =>
      certificateMatches(cert, policy.match, hostname, nexthop)
        ? undefined
        : Object.assign(new Error(`server certificate not verified: name mismatch (names: ${certificateNames(cert).join(', ') || 'none'})`), {
            code: 'ERR_TLS_CERT_ALTNAME_INVALID',
          });
  } else {
    opts.rejectUnauthorized = false;
    opts.checkServerIdentity = () => undefined;
  }
  return opts;
}

function cipherBits(name: string): number {
  if (/CHACHA20|AES_?256|AES256/i.test(name)) return 256;
  if (/AES_?128|AES128/i.test(name)) return 128;
  return 0;
}

/** "Verified", "Trusted", "Untrusted" or "Anonymous", as Postfix names the peer's state. */
export function tlsTrust(socket: TLSSocket, level: TlsLevel): string {
  const cert = socket.getPeerCertificate();
  if (!cert || Object.keys(cert).length === 0) return 'Anonymous';
  if (!socket.authorized) return 'Untrusted';
  if (level === 'verify' || level === 'secure') return 'Verified';
  return 'Trusted';
}

/** The summary Postfix logs after the handshake. */
export function tlsSummary(socket: TLSSocket, trust: string, peer: string): string {
  const cipher = socket.getCipher();
  const bits = cipherBits(cipher.standardName ?? cipher.name);
  return `${trust} TLS connection established to ${peer}: ${socket.getProtocol() ?? 'TLS'} with cipher ${cipher.name} (${bits}/${bits} bits)`;
}
