/**
 * postconf's information modes: -a and -A (SASL plug-in types), -l (mailbox
 * lock methods), -m (lookup table types), -T (TLS features) and -b / -t
 * (bounce message templates).
 *
 *   -a   the smtpd_sasl_type values the installed smtpd accepts: dovecot and
 *        postern-table (nothing when no package provides smtpd).
 *   -A   nothing: Postern's SMTP and LMTP clients have one built-in SASL
 *        client (CRAM-MD5, PLAIN, LOGIN) and no smtp_sasl_type choice; Postfix
 *        built without a SASL client prints nothing either.
 *   -l   flock, fcntl, dotlock (Postfix's order on Linux).
 *   -m   the table types of the table registry (built-in and installed), sorted.
 *   -T compile-version | run-version   "OpenSSL VERSION", from Node's
 *        process.versions.openssl (Node does not give the release date that
 *        `openssl version` prints); both are the OpenSSL Node runs with.
 *   -T public-key-algorithms   those of dsa, ecdsa, rsa that Node's crypto
 *        can make keys of, one a line, in Postfix's order.
 *   -b, -t [file]   the templates of bounce_template_file (or of `file`;
 *        an empty name means the built-in ones): -t as written, -b their
 *        text with $name expanded. Needs the bounce package installed.
 */
import { readFileSync } from 'node:fs';
import { generateKeyPairSync, getCurves } from 'node:crypto';
import type { ConfigView } from '@postern/core';
import { importProvider } from '../plugins.js';

type Out = (text: string) => void;

export class InfoFatal extends Error {}

/** smtpd_sasl_type values of @postern/plugin-smtpd (smtpd-sasl.ts). */
const SASL_SERVER_TYPES = ['dovecot', 'postern-table'];

export function saslTypes(kind: 'server' | 'client', smtpdInstalled: boolean): string[] {
  return kind === 'server' && smtpdInstalled ? SASL_SERVER_TYPES : [];
}

/** postconf -l: Postern's lock methods (mailbox-lock.ts) in Postfix's listing order. */
export const LOCK_METHODS = ['flock', 'fcntl', 'dotlock'];

function canMake(type: 'rsa' | 'dsa'): boolean {
  try {
    if (type === 'rsa') generateKeyPairSync('rsa', { modulusLength: 512 });
    else generateKeyPairSync('dsa', { modulusLength: 1024, divisorLength: 160 });
    return true;
  } catch {
    return false;
  }
}

/** postconf -T mode: the lines to print, or undefined for an unknown mode. */
export function tlsInfo(mode: string): string[] | undefined {
  const version = `OpenSSL ${process.versions.openssl ?? 'unknown'}`;
  switch (mode) {
    case 'compile-version':
    case 'run-version':
      return [version];
    case 'public-key-algorithms': {
      // Postfix 3.7 prints them in this order.
      const out: string[] = [];
      if (canMake('dsa')) out.push('dsa');
      if (getCurves().length > 0) out.push('ecdsa');
      if (canMake('rsa')) out.push('rsa');
      return out;
    }
    default:
      return undefined;
  }
}

interface BounceModule {
  readonly DEFAULT_TEMPLATES: Readonly<Record<string, Template>>;
  parseTemplateFile(content: string, origin: string, warn: (t: string) => void): Readonly<Record<string, Template>>;
  expandTemplate(tpl: Template, config: ConfigView, warn?: (t: string) => void): string[];
}

interface Template {
  readonly class: string;
  readonly charset: string;
  readonly from: string;
  readonly subject: string;
  readonly postmasterSubject?: string;
  readonly text: readonly string[];
}

const CLASSES = ['failure', 'delay', 'success', 'verify'];

/** postconf -b (expand) or -t (dump): the four templates as Postfix prints them. */
export async function showTemplates(
  how: 'expand' | 'dump',
  file: string | undefined,
  config: ConfigView,
  out: Out,
  warn: (t: string) => void,
): Promise<void> {
  const bounce = await importProvider<BounceModule>(config.configDirectory, 'bounce', 1);
  const name = (file ?? config.get('bounce_template_file')).trim();
  let templates = bounce.DEFAULT_TEMPLATES;
  if (name !== '') {
    let text: string;
    try {
      text = readFileSync(name, 'utf8');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      throw new InfoFatal(`open ${name}: ${code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : (err as Error).message}`);
    }
    templates = bounce.parseTemplateFile(text, name, warn);
  }
  const blocks = CLASSES.map((cls) => {
    const t = templates[cls] as Template;
    if (how === 'expand') return `expanded_${cls}_text = <<EOF\n${bounce.expandTemplate(t, config, warn).join('\n')}\nEOF\n`;
    const headers = [`Charset: ${t.charset}`, `From: ${t.from}`, `Subject: ${t.subject}`];
    if (t.postmasterSubject !== undefined) headers.push(`Postmaster-Subject: ${t.postmasterSubject}`);
    return `${cls}_template = <<EOF\n${headers.join('\n')}\n\n${t.text.join('\n')}\nEOF\n`;
  });
  out(blocks.join('\n'));
}
