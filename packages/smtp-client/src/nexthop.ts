/**
 * Next-hop destinations of the smtp(8) and lmtp(8) clients (Postfix's
 * smtp_connect.c: smtp_parse_destination, and lmtp's unix:/inet: forms).
 *
 *   domain           MX lookup, then the domain's own A/AAAA records
 *   domain:port      the same, on another port
 *   [host]           no MX lookup: the host's A/AAAA records (or the address itself)
 *   [host]:port      the same, on another port
 *   inet:host:port   LMTP (and SMTP) form of the above; inet:[host]:port too
 *   unix:/path       LMTP over a UNIX-domain socket
 *
 * The port is a number or a service name (smtp 25, lmtp 24, submission 587,
 * smtps/submissions 465). A next-hop may be a list (Postfix 3.5 relayhost
 * lists), separated by commas or white space; each is tried in turn.
 */

export type Destination =
  | {
      readonly kind: 'inet';
      /** The host or domain, without brackets. */
      readonly host: string;
      readonly port: number;
      /** False for [host]: no MX lookup. */
      readonly mx: boolean;
      /** The next-hop as written, for messages. */
      readonly text: string;
    }
  | { readonly kind: 'unix'; readonly path: string; readonly text: string };

const SERVICE_PORTS: Readonly<Record<string, number>> = {
  smtp: 25,
  lmtp: 24,
  submission: 587,
  smtps: 465,
  submissions: 465,
};

/** A port number or service name as a number; undefined when neither. */
export function servicePort(text: string): number | undefined {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    return n > 0 && n < 65536 ? n : undefined;
  }
  return SERVICE_PORTS[text.toLowerCase()];
}

/** Splits a next-hop list into its destinations (commas and white space outside brackets). */
export function splitDestinations(nexthop: string): string[] {
  const out: string[] = [];
  let cur = '';
  let depth = 0;
  for (const ch of nexthop) {
    if (ch === '[') depth++;
    if (ch === ']') depth = Math.max(0, depth - 1);
    if (depth === 0 && (ch === ',' || /\s/.test(ch))) {
      if (cur) out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur) out.push(cur);
  return out;
}

/**
 * Parses one destination. `defaultPort` is the transport's port
 * (smtp_tcp_port / lmtp_tcp_port). Returns undefined for a malformed one.
 */
export function parseDestination(text: string, defaultPort: number): Destination | undefined {
  let rest = text.trim();
  if (!rest) return undefined;
  if (/^unix:/i.test(rest)) {
    const path = rest.slice(5);
    return path ? { kind: 'unix', path, text } : undefined;
  }
  if (/^inet:/i.test(rest)) rest = rest.slice(5);
  let host: string;
  let mx = true;
  let portText: string | undefined;
  if (rest.startsWith('[')) {
    const close = rest.indexOf(']');
    if (close < 0) return undefined;
    host = rest.slice(1, close);
    mx = false;
    const after = rest.slice(close + 1);
    if (after) {
      if (!after.startsWith(':')) return undefined;
      portText = after.slice(1);
    }
    if (/^ipv6:/i.test(host)) host = host.slice(5);
  } else {
    const colon = rest.lastIndexOf(':');
    if (colon >= 0) {
      host = rest.slice(0, colon);
      portText = rest.slice(colon + 1);
    } else host = rest;
  }
  if (!host) return undefined;
  let port = defaultPort;
  if (portText !== undefined) {
    const p = servicePort(portText);
    if (p === undefined) return undefined;
    port = p;
  }
  return { kind: 'inet', host: host.toLowerCase(), port, mx, text };
}
