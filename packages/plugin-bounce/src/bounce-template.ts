/**
 * bounce(5) message templates (Postfix's bounce_template.c and
 * bounce_templates.c): the built-in failure, delay, success and verify
 * templates, the bounce_template_file reader, and $name expansion of the
 * template text.
 *
 * A template file holds `NAME_template = <<MARKER` blocks (NAME is failure,
 * delay, success or verify) ending at a line that equals MARKER. Blank lines
 * and lines starting with `#` between blocks are ignored. A template starts
 * with pseudo-headers (Charset:, From:, Subject:, and for failure and delay
 * Postmaster-Subject:), then a blank line, then the message text, in which
 * `$name` expands to a main.cf parameter value and
 * `$delay_warning_time_UNIT` / `$maximal_queue_lifetime_UNIT` (UNIT one of
 * seconds, minutes, hours, days, weeks) to that time in whole units. A
 * template with an error is ignored with a warning, and the built-in one
 * is used instead, as Postfix does.
 */
import { readFileSync } from 'node:fs';
import { posternError, type ConfigView, type Logger } from '@postern/core';

/** The four template classes of bounce(5). */
export type TemplateClass = 'failure' | 'delay' | 'success' | 'verify';
export const TEMPLATE_CLASSES: readonly TemplateClass[] = ['failure', 'delay', 'success', 'verify'];

export interface BounceTemplate {
  readonly class: TemplateClass;
  /** Where it came from: "[built-in]" or the template file's path. */
  readonly origin: string;
  readonly charset: string;
  /** 8bit when the text is not ASCII. */
  readonly encoding: '7bit' | '8bit';
  readonly from: string;
  readonly subject: string;
  /** Subject of postmaster copies (failure and delay only). */
  readonly postmasterSubject?: string;
  /** Message text lines, unexpanded. */
  readonly text: readonly string[];
}

export type BounceTemplates = Readonly<Record<TemplateClass, BounceTemplate>>;

const FROM = 'Mail Delivery System <MAILER-DAEMON>';
const HELP = [
  'For further assistance, please send mail to postmaster.',
  '',
  'If you do so, please include this problem report. You can',
  'delete your own text from the attached returned message.',
  '',
  '                   The mail system',
];

function builtin(cls: TemplateClass, subject: string, postmasterSubject: string | undefined, text: string[]): BounceTemplate {
  return {
    class: cls,
    origin: '[built-in]',
    charset: 'us-ascii',
    encoding: '7bit',
    from: FROM,
    subject,
    ...(postmasterSubject !== undefined && { postmasterSubject }),
    text,
  };
}

/** Postfix's built-in templates (postconf -t shows them). */
export const DEFAULT_TEMPLATES: BounceTemplates = {
  failure: builtin('failure', 'Undelivered Mail Returned to Sender', 'Postmaster Copy: Undelivered Mail', [
    'This is the mail system at host $myhostname.',
    '',
    "I'm sorry to have to inform you that your message could not",
    "be delivered to one or more recipients. It's attached below.",
    '',
    ...HELP,
  ]),
  delay: builtin('delay', 'Delayed Mail (still being retried)', 'Postmaster Warning: Delayed Mail', [
    'This is the mail system at host $myhostname.',
    '',
    '####################################################################',
    '# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #',
    '####################################################################',
    '',
    'Your message could not be delivered for more than $delay_warning_time_hours hour(s).',
    'It will be retried until it is $maximal_queue_lifetime_days day(s) old.',
    '',
    ...HELP,
  ]),
  success: builtin('success', 'Successful Mail Delivery Report', undefined, [
    'This is the mail system at host $myhostname.',
    '',
    'Your message was successfully delivered to the destination(s)',
    'listed below. If the message was delivered to mailbox you will',
    'receive no further notifications. Otherwise you may still receive',
    'notifications of mail delivery errors from other systems.',
    '',
    '                   The mail system',
  ]),
  verify: builtin('verify', 'Mail Delivery Status Report', undefined, [
    'This is the mail system at host $myhostname.',
    '',
    'Enclosed is the mail delivery report that you requested.',
    '',
    '                   The mail system',
  ]),
};

type Warn = (text: string) => void;

 
const ASCII = /^[\x00-\x7f]*$/;
/** A header label as is_header() accepts it: printable non-space, non-colon characters, then ':'. */
const HEADER = /^([!-9;-~]+)[ \t]*:/;

/**
 * Parses one template body (the text between `<<EOF` and `EOF`). Returns
 * undefined, after a warning, when the template must be ignored.
 */
export function parseTemplate(cls: TemplateClass, buffer: string, origin: string, warn: Warn): BounceTemplate | undefined {
  const proto = DEFAULT_TEMPLATES[cls];
  const lines = buffer.split('\n');
  let charset = proto.charset;
  let from = proto.from;
  let subject = proto.subject;
  let postmasterSubject = proto.postmasterSubject;
  let i = 0;
  for (; i < lines.length; i++) {
    const line = lines[i] as string;
    const m = HEADER.exec(line);
    if (!m) break;
    const label = m[1] as string;
    const value = line.slice(m[0].length).replace(/^[\s:]+/, '').trimEnd();
    const ignore = (why: string, what: 'value' | 'label') => {
      warn(`${origin}: ${why} "${label}" header ${what} in ${cls} template -- ignoring this template`);
      return undefined;
    };
    if (value === '') return ignore('empty', 'value');
    if (!ASCII.test(value)) return ignore('non-ASCII', 'value');
    switch (label.toLowerCase()) {
      case 'charset':
        charset = value;
        break;
      case 'from':
        from = value;
        break;
      case 'subject':
        subject = value;
        break;
      case 'postmaster-subject':
        if (proto.postmasterSubject === undefined) return ignore('inapplicable', 'label');
        postmasterSubject = value;
        break;
      default:
        return ignore('unknown', 'label');
    }
  }
  while (i < lines.length && (lines[i] as string).trim() === '') i++;
  if (i >= lines.length) {
    warn(`${origin}: missing message text in ${cls} template -- ignoring this template`);
    return undefined;
  }
  const text = lines.slice(i);
  for (const line of text) {
    for (const use of timeReferences(line)) {
      if (!(use.suffix in DIVISORS)) {
        warn(`${origin}: unrecognized suffix "${use.suffix}" in parameter "${use.name}" in ${cls} template -- ignoring this template`);
        return undefined;
      }
    }
  }
  let encoding: '7bit' | '8bit' = '7bit';
  if (!text.every((l) => ASCII.test(l))) {
    if (charset.toLowerCase() === 'us-ascii') {
      warn(`${origin}: 8-bit message text in ${cls} template`);
      warn('please specify a charset value other than us-ascii');
      warn('-- ignoring this template for now');
      return undefined;
    }
    encoding = '8bit';
  }
  return {
    class: cls,
    origin,
    charset,
    encoding,
    from,
    subject,
    ...(postmasterSubject !== undefined && { postmasterSubject }),
    text,
  };
}

/**
 * Parses a bounce_template_file: the built-in templates with those the file
 * defines replaced. Syntax errors throw POSTERN_ERR_CONFIG_SYNTAX (Postfix: fatal); bad templates and
 * unknown names are ignored with a warning.
 */
export function parseTemplateFile(content: string, origin: string, warn: Warn): BounceTemplates {
  const out: Record<TemplateClass, BounceTemplate> = { ...DEFAULT_TEMPLATES };
  const lines = content.replace(/\r\n/g, '\n').split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const lineno = i + 1;
    const trimmed = line.trimStart();
    if (trimmed === '' || trimmed.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const name = (eq < 0 ? '' : line.slice(0, eq)).trim();
    if (eq < 0 || name === '' || /\s/.test(name)) {
      throw posternError('POSTERN_ERR_CONFIG_SYNTAX', origin, lineno, `missing '=' after attribute name: "${line}"`);
    }
    let value = line.slice(eq + 1).trim();
    if (value.startsWith('<<')) {
      const marker = value.slice(2).trim();
      if (marker === '') throw posternError('POSTERN_ERR_CONFIG_SYNTAX', origin, lineno, 'missing end marker after <<');
      if (!/^[A-Za-z0-9]/.test(marker)) throw posternError('POSTERN_ERR_CONFIG_SYNTAX', origin, lineno, 'malformed end marker after <<');
      const body: string[] = [];
      let closed = false;
      while (++i < lines.length) {
        if (lines[i] === marker) {
          closed = true;
          break;
        }
        body.push(lines[i] as string);
      }
      if (!closed) warn(`${origin}, line ${i}: missing "${marker}" end marker`);
      value = body.join('\n');
    }
    const m = /^(failure|delay|success|verify)_template$/.exec(name);
    if (!m) {
      warn(`${origin}, line ${lineno}: unknown template name: ${name} -- ignoring this template`);
      continue;
    }
    const cls = m[1] as TemplateClass;
    const tpl = parseTemplate(cls, value, origin, warn);
    if (tpl) out[cls] = tpl;
  }
  return out;
}

/**
 * The templates in force: bounce_template_file's, or the built-in ones when
 * the parameter is empty. An unreadable file throws (Postfix: fatal).
 */
export function loadTemplates(config: ConfigView, log: Logger): BounceTemplates {
  const file = config.get('bounce_template_file').trim();
  if (file === '') return DEFAULT_TEMPLATES;
  return parseTemplateFile(readFileSync(file, 'utf8'), file, (t) => log.warn(t));
}

const DIVISORS: Readonly<Record<string, number>> = {
  seconds: 1,
  minutes: 60,
  hours: 3600,
  days: 86400,
  weeks: 7 * 86400,
};

/** The time parameters a template may show in a unit of its choice. */
export const TEMPLATE_TIME_PARAMETERS = ['delay_warning_time', 'maximal_queue_lifetime'] as const;

/** `$delay_warning_time_hours` and friends, as whole units (Postfix divides and truncates). */
export function templateTimeValues(config: ConfigView): Record<string, string> {
  const out: Record<string, string> = {};
  for (const param of TEMPLATE_TIME_PARAMETERS) {
    const seconds = config.time(param);
    for (const [suffix, divisor] of Object.entries(DIVISORS)) {
      out[`${param}_${suffix}`] = String(Math.floor(seconds / divisor));
    }
  }
  return out;
}

/** The `$param_unit` references to the time parameters in one line of template text. */
function timeReferences(line: string): { name: string; param: string; suffix: string }[] {
  const out: { name: string; param: string; suffix: string }[] = [];
  for (const m of line.matchAll(/\$[{(]?(delay_warning_time|maximal_queue_lifetime)_([A-Za-z0-9_]+)/g)) {
    out.push({ name: `${m[1]}_${m[2]}`, param: m[1] as string, suffix: m[2] as string });
  }
  return out;
}

/**
 * The template's message text with $name expanded, one string per line.
 * `warn` hears Postfix's advice when a time shows as more than 999 small
 * units or as zero.
 */
export function expandTemplate(tpl: BounceTemplate, config: ConfigView, warn?: Warn): string[] {
  const extra = templateTimeValues(config);
  if (warn) {
    for (const line of tpl.text) {
      for (const use of timeReferences(line)) {
        const divisor = DIVISORS[use.suffix];
        if (divisor === undefined) continue;
        const seconds = config.time(use.param);
        const result = Math.floor(seconds / divisor);
        if (result > 999 && divisor < 86400) {
          warn(`${tpl.origin}: excessive result "${result}" in ${tpl.class} template conversion of parameter "${use.name}"`);
          warn(`please increase time unit "${use.suffix}" of "${use.name}" in ${tpl.class} template`);
          warn('for instructions see the bounce(5) manual');
        } else if (result === 0 && seconds > 0 && divisor > 1) {
          warn(`${tpl.origin}: zero result in ${tpl.class} template conversion of parameter "${use.name}"`);
          warn(`please reduce time unit "${use.suffix}" of "${use.name}" in ${tpl.class} template`);
          warn('for instructions see the bounce(5) manual');
        }
      }
    }
  }
  return tpl.text.map((line) => config.expand(line, extra));
}
