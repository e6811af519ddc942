/**
 * SMTP replies and the Postfix wording of delivery failures (Postfix's
 * smtp_chat.c, smtp_trouble.c and dsn_util.c).
 *
 *   host X[addr] said: 550 5.1.1 <u@x>: unknown user (in reply to RCPT TO command)
 *   host X[addr] refused to talk to me: 554 5.7.1 go away
 *   connect to X[addr]:25: Connection refused
 *   lost connection with X[addr] while sending message body
 *   conversation with X[addr] timed out while sending MAIL FROM
 */

/** A server reply: code, RFC 3463 status (from the reply or made up from the code) and text. */
export interface SmtpReply {
  readonly code: number;
  readonly dsn: string;
  /** The reply as one line: multi-line replies joined with spaces (Postfix translit "\n" -> " "). */
  readonly text: string;
}

/** The Postfix default for line_length_limit: replies are cut there. */
export const REPLY_LENGTH_LIMIT = 2048;

/** Parses a reply (its lines joined with "\n"). */
export function parseReply(raw: string, limit = REPLY_LENGTH_LIMIT): SmtpReply {
  const text = raw
    .replace(/\r/g, '')
    .split('\n')
    .map((l) => (l.length > limit ? l.slice(0, limit) : l))
    .join(' ')
    .trim()
    .slice(0, limit);
  const m = /^([2-5])(\d\d)(?:[ -]([245])\.(\d{1,3})\.(\d{1,3})(?=\s|$))?/.exec(text);
  if (!m) return { code: 0, dsn: '4.5.0', text };
  const code = Number(m[1]! + m[2]!);
  const cls = m[1]!;
  // An enhanced code of another class than the reply is ignored (Postfix dsn_valid + class check).
  const dsn = m[3] === cls ? `${cls}.${m[4]}.${m[5]}` : `${cls === '2' || cls === '3' ? '2' : cls}.0.0`;
  return { code, dsn, text };
}

/** Replaces the class digit of a status: soft-bounce style "5.1.1" -> "4.1.1". */
export function softDsn(dsn: string): string {
  return dsn.startsWith('5') ? `4${dsn.slice(1)}` : dsn;
}

/** What the client was doing, as Postfix's smtp_stream_except names it. */
export type SessionState =
  | 'greeting'
  | 'ehlo'
  | 'helo'
  | 'lhlo'
  | 'starttls'
  | 'auth'
  | 'mail'
  | 'rcpt'
  | 'data'
  | 'body'
  | 'dot'
  | 'rset'
  | 'quit';

const STATE_TEXT: Record<SessionState, string> = {
  greeting: 'receiving the initial server greeting',
  ehlo: 'performing the EHLO handshake',
  helo: 'performing the HELO handshake',
  lhlo: 'performing the LHLO handshake',
  starttls: 'receiving the STARTTLS response',
  auth: 'performing the SASL authentication',
  mail: 'sending MAIL FROM',
  rcpt: 'sending RCPT TO',
  data: 'sending DATA command',
  body: 'sending message body',
  dot: 'sending end of data -- message may be sent more than once',
  rset: 'sending final RSET',
  quit: 'sending QUIT',
};

const COMMAND_TEXT: Record<SessionState, string> = {
  greeting: 'initial greeting',
  ehlo: 'EHLO',
  helo: 'HELO',
  lhlo: 'LHLO',
  starttls: 'STARTTLS',
  auth: 'AUTH',
  mail: 'MAIL FROM',
  rcpt: 'RCPT TO',
  data: 'DATA',
  body: 'end of DATA',
  dot: 'end of DATA',
  rset: 'RSET',
  quit: 'QUIT',
};

/** "sending MAIL FROM", "receiving the initial server greeting", ... */
export function stateText(state: SessionState): string {
  return STATE_TEXT[state];
}

/** The command named in "(in reply to X command)". */
export function commandText(state: SessionState): string {
  return COMMAND_TEXT[state];
}

/** The state a command line puts the session in. */
export function commandState(line: string): SessionState | undefined {
  const verb = line.slice(0, 10).toUpperCase();
  if (verb.startsWith('EHLO')) return 'ehlo';
  if (verb.startsWith('HELO')) return 'helo';
  if (verb.startsWith('LHLO')) return 'lhlo';
  if (verb.startsWith('STARTTLS')) return 'starttls';
  if (verb.startsWith('AUTH')) return 'auth';
  if (verb.startsWith('MAIL FROM')) return 'mail';
  if (verb.startsWith('RCPT TO')) return 'rcpt';
  if (verb.startsWith('DATA')) return 'data';
  if (verb.startsWith('RSET')) return 'rset';
  if (verb.startsWith('QUIT')) return 'quit';
  if (verb === '.') return 'dot';
  // AUTH continuation lines (base64 responses) belong to AUTH.
  return 'auth';
}

/** "host X[addr] said: TEXT (in reply to CMD command)". */
export function saidText(peer: string, reply: SmtpReply, state: SessionState): string {
  return `host ${peer} said: ${reply.text} (in reply to ${commandText(state)} command)`;
}
