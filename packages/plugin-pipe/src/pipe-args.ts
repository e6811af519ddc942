/**
 * pipe(8) command attributes: the arguments of the master.cf entry
 * (`flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}`),
 * parsed as Postfix's get_service_attr() does: attributes up to argv=,
 * everything after argv= is the command vector. "{ ... }" groups an
 * argument containing white space (master.cf keeps it as one argument).
 */

export interface PipeFlags {
  /** B: append a blank line. */
  readonly blank: boolean;
  /** D: Delivered-To: header and loop detection. */
  readonly delivered: boolean;
  /** F: From_ line. */
  readonly from: boolean;
  /** O: X-Original-To: header. */
  readonly originalTo: boolean;
  /** R: Return-Path: header. */
  readonly returnPath: boolean;
  /** X: final delivery (DSN action "delivered" instead of "relayed"). */
  readonly final: boolean;
  /** h: fold domain parts, $domain and $nexthop to lowercase. */
  readonly foldHost: boolean;
  /** q: quote address local parts in $sender, $recipient, $original_recipient. */
  readonly quote: boolean;
  /** u: fold local parts to lowercase. */
  readonly foldUser: boolean;
  /** .: prepend "." to lines starting with ".". */
  readonly dot: boolean;
  /** >: prepend ">" to lines starting with "From ". */
  readonly quoteFrom: boolean;
}

export interface PipeAttrs {
  readonly flags: PipeFlags;
  readonly user: string;
  readonly group?: string;
  readonly argv: readonly string[];
  readonly size?: number;
  readonly eol: string;
  readonly directory?: string;
  /** null_sender=: the text the null sender becomes (default MAILER-DAEMON). */
  readonly nullSender: string;
}

export class PipeConfigError extends Error {
  override readonly name = 'PipeConfigError';
}

export function parseFlags(text: string): PipeFlags {
  const known = 'BDFORXhqu.>';
  for (const ch of text) if (!known.includes(ch)) throw new PipeConfigError(`unknown flag: ${ch}`);
  return {
    blank: text.includes('B'),
    delivered: text.includes('D'),
    from: text.includes('F'),
    originalTo: text.includes('O'),
    returnPath: text.includes('R'),
    final: text.includes('X'),
    foldHost: text.includes('h'),
    quote: text.includes('q'),
    foldUser: text.includes('u'),
    dot: text.includes('.'),
    quoteFrom: text.includes('>'),
  };
}

/** C-style escapes of eol= (\a \b \f \n \r \t \v \ddd \\). */
export function unescapeEol(text: string): string {
  const map: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
  return text.replace(/\\([0-7]{1,3}|.)/g, (_, c: string) => (/^[0-7]+$/.test(c) ? String.fromCharCode(parseInt(c, 8)) : (map[c] ?? c)));
}

function unbrace(arg: string): string {
  const t = arg.trim();
  return t.startsWith('{') && t.endsWith('}') ? t.slice(1, -1).trim() : arg;
}

export function parsePipeArgs(args: readonly string[]): PipeAttrs {
  let flags = parseFlags('');
  let user: string | undefined;
  let group: string | undefined;
  let size: number | undefined;
  let eol = '\n';
  let directory: string | undefined;
  let nullSender = 'MAILER-DAEMON';
  let argv: string[] | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = unbrace(args[i]!);
    const eq = arg.indexOf('=');
    const name = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    if (eq < 0) throw new PipeConfigError(`bad command attribute: ${arg}`);
    switch (name) {
      case 'flags':
        flags = parseFlags(value);
        break;
      case 'user': {
        const colon = value.indexOf(':');
        user = colon < 0 ? value : value.slice(0, colon);
        group = colon < 0 ? undefined : value.slice(colon + 1);
        break;
      }
      case 'size':
        size = Number(value);
        if (!Number.isInteger(size) || size <= 0) throw new PipeConfigError(`bad size limit: ${value}`);
        break;
      case 'eol':
        eol = unescapeEol(value);
        break;
      case 'directory':
        directory = value;
        break;
      case 'null_sender':
        nullSender = value;
        break;
      case 'argv':
        argv = [value, ...args.slice(i + 1).map(unbrace)].filter((a, k) => k > 0 || a !== '');
        i = args.length;
        break;
      default:
        throw new PipeConfigError(`unknown attribute name: ${name}`);
    }
  }
  if (!user) throw new PipeConfigError('missing user= command-line attribute');
  if (!argv || argv.length === 0) throw new PipeConfigError('missing argv= command-line attribute');
  return { flags, user, ...(group !== undefined && { group }), argv, ...(size !== undefined && { size }), eol, ...(directory !== undefined && { directory }), nullSender };
}
