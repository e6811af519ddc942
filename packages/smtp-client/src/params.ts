/**
 * The main.cf parameters of smtp(8) and lmtp(8), with Postfix's defaults
 * (postconf -d), for the smtp_ and the lmtp_ prefix, and the settings one
 * delivery reads from them.
 */
import type { ConfigView, ParameterSpec } from '@postern/core';
import { CIPHERLIST_PARAMETERS } from './tls-openssl.js';

export type ClientProtocol = 'smtp' | 'lmtp';

type Row = readonly [suffix: string, smtp: string, lmtp: string, type: ParameterSpec['type'], description: string];

const ROWS: readonly Row[] = [
  ['tcp_port', 'smtp', '24', 'string', 'The default TCP port of a next-hop without one.'],
  ['connect_timeout', '30s', '0s', 'time', 'The time limit for completing a TCP connection (0: none).'],
  ['helo_timeout', '300s', '300s', 'time', 'The time limit for the greeting and the EHLO/HELO reply.'],
  ['lhlo_timeout', '300s', '300s', 'time', 'The time limit for the LHLO reply (lmtp).'],
  ['starttls_timeout', '300s', '300s', 'time', 'The time limit for the STARTTLS reply and the TLS handshake.'],
  ['mail_timeout', '300s', '300s', 'time', 'The time limit for the MAIL FROM reply.'],
  ['rcpt_timeout', '300s', '300s', 'time', 'The time limit for a RCPT TO reply.'],
  ['data_init_timeout', '120s', '120s', 'time', 'The time limit for the DATA reply.'],
  ['data_xfer_timeout', '180s', '180s', 'time', 'The time limit for sending the message content.'],
  ['data_done_timeout', '600s', '600s', 'time', 'The time limit for the reply to the end of the content.'],
  ['rset_timeout', '20s', '20s', 'time', 'The time limit for the RSET reply.'],
  ['quit_timeout', '300s', '300s', 'time', 'The time limit for the QUIT reply.'],
  ['helo_name', '$myhostname', '$myhostname', 'string', 'The host name sent with EHLO/HELO.'],
  ['lhlo_name', '$myhostname', '$myhostname', 'string', 'The host name sent with LHLO (lmtp).'],
  ['bind_address', '', '', 'string', 'The local IPv4 address for outgoing connections.'],
  ['bind_address6', '', '', 'string', 'The local IPv6 address for outgoing connections.'],
  ['fallback_relay', '$fallback_relay', '', 'list', 'Destinations tried when the next-hop does not answer.'],
  ['mx_address_limit', '5', '5', 'int', 'The maximal number of server addresses tried per delivery (0: no limit).'],
  ['mx_session_limit', '2', '2', 'int', 'The maximal number of SMTP sessions per delivery.'],
  ['dns_support_level', '', '', 'string', 'DNS use: disabled, enabled, dnssec ("": enabled unless disable_dns_lookups).'],
  ['host_lookup', 'dns', 'dns', 'list', 'How host addresses are found: dns, native, or both.'],
  ['generic_maps', '', '', 'table', 'Address rewriting for outgoing mail (generic(5)).'],
  ['header_checks', '', '', 'table', 'Restricted header_checks(5) applied while the message is sent (DUNNO, IGNORE, STRIP, INFO, WARN, REPLACE, PREPEND).'],
  ['mime_header_checks', '', '', 'table', 'Restricted mime_header_checks(5): MIME headers and MIME part headers as the message is sent.'],
  ['nested_header_checks', '', '', 'table', 'Restricted nested_header_checks(5): headers of attached messages as the message is sent.'],
  ['body_checks', '', '', 'table', 'Restricted body_checks(5) applied to each body line as the message is sent.'],
  ['delivery_status_filter', '$default_delivery_status_filter', '$default_delivery_status_filter', 'table', 'Tables that replace the status code and text of each recipient\'s final delivery status (success, 5XX reject, or no more servers to try) before it is logged and reported; see default_delivery_status_filter.'],
  ['line_length_limit', '998', '998', 'int', 'The maximal length of a message line sent.'],
  ['skip_5xx_greeting', 'yes', 'yes', 'bool', 'Try the next server when one greets with 5XX.'],
  ['tls_security_level', '', '', 'string', 'The default TLS security level: none, may, encrypt, verify, secure.'],
  ['tls_policy_maps', '', '', 'table', 'Per-destination TLS policies.'],
  ['tls_CAfile', '', '', 'string', 'File with the trusted CA certificates.'],
  ['tls_CApath', '', '', 'string', 'Directory with the trusted CA certificates.'],
  ['tls_cert_file', '', '', 'string', 'The client certificate (PEM).'],
  ['tls_key_file', '$smtp_tls_cert_file', '$lmtp_tls_cert_file', 'string', 'The client private key (PEM).'],
  ['tls_verify_cert_match', 'hostname', 'hostname', 'list', 'Certificate name match at the verify level.'],
  ['tls_secure_cert_match', 'nexthop, dot-nexthop', 'nexthop', 'list', 'Certificate name match at the secure level.'],
  ['tls_protocols', '>=TLSv1', '>=TLSv1', 'list', 'TLS protocols with opportunistic TLS.'],
  ['tls_mandatory_protocols', '>=TLSv1', '>=TLSv1', 'list', 'TLS protocols with mandatory TLS.'],
  ['tls_ciphers', 'medium', 'medium', 'string', 'The cipher grade with opportunistic TLS: high, medium, low, export or null (tls_<grade>_cipherlist; TLS 1.2 and older).'],
  ['tls_mandatory_ciphers', 'medium', 'medium', 'string', 'The cipher grade with mandatory TLS (encrypt and stronger levels).'],
  ['tls_exclude_ciphers', '', '', 'list', 'Ciphers or cipher types excluded at every TLS level (each appended as ":!name").'],
  ['tls_mandatory_exclude_ciphers', '', '', 'list', 'Ciphers or cipher types also excluded with mandatory TLS.'],
  ['tls_connection_reuse', 'no', 'no', 'bool', 'Reuse TLS-protected connections.'],
  ['sasl_auth_enable', 'no', 'no', 'bool', 'Enable SASL authentication to the server.'],
  ['sasl_password_maps', '', '', 'table', 'Credentials per host or next-hop ("user:password").'],
  ['sasl_security_options', 'noplaintext, noanonymous', 'noplaintext, noanonymous', 'list', 'SASL options on plaintext sessions.'],
  ['sasl_tls_security_options', '$smtp_sasl_security_options', '$lmtp_sasl_security_options', 'list', 'SASL options on TLS sessions.'],
  ['sasl_tls_verified_security_options', '$smtp_sasl_tls_security_options', '$lmtp_sasl_tls_security_options', 'list', 'SASL options on verified TLS sessions.'],
  ['sasl_mechanism_filter', '', '', 'list', 'The SASL mechanisms the client may use (empty: all).'],
  ['send_xforward_command', 'no', 'no', 'bool', 'Send the original client (XFORWARD NAME ADDR PORT PROTO HELO IDENT SOURCE) when the server offers XFORWARD.'],
  ['connection_cache_on_demand', 'yes', 'yes', 'bool', 'Keep sessions open for more mail to the same destination.'],
  ['connection_cache_destinations', '', '', 'list', 'Destinations whose sessions are always kept.'],
  ['connection_cache_time_limit', '2s', '2s', 'time', 'How long an idle session is kept.'],
  ['connection_reuse_count_limit', '0', '0', 'int', 'How many times a session is used (0: no limit).'],
  ['connection_reuse_time_limit', '300s', '300s', 'time', 'How long a session is reused after it was opened.'],
  ['static_resolver_maps', '', '', 'table', 'Postern: names answered without DNS (mx=PREF:HOST, ADDR[:PORT]).'],
];

/** The parameters of `protocol`'s client, for definePlugin. */
export function clientParameters(protocol: ClientProtocol): ParameterSpec[] {
  const rows = ROWS.filter(([suffix]) => (protocol === 'lmtp' ? !/^(helo_name|helo_timeout)$/.test(suffix) : !/^lhlo_/.test(suffix)));
  const specs: ParameterSpec[] = rows.map(([suffix, smtp, lmtp, type, description]) => ({
    name: `${protocol}_${suffix}`,
    default: protocol === 'smtp' ? smtp : lmtp,
    ...(type && { type }),
    description,
  }));
  // read by both clients: each plugin declares them, so either works installed alone
  specs.push(
    { name: 'disable_dns_lookups', default: 'no', type: 'bool', description: 'Disable DNS lookups in the SMTP and LMTP clients.' },
    { name: 'disable_mime_output_conversion', default: 'no', type: 'bool', description: 'Disable the 8BITMIME to 7BIT conversion.' },
    ...CIPHERLIST_PARAMETERS,
  );
  if (protocol === 'smtp') {
    specs.push({ name: 'fallback_relay', default: '', type: 'list', description: 'Optional list of relay hosts for SMTP destinations that cannot be reached.' });
  }
  return specs;
}

/** Everything one delivery reads from the configuration. */
export interface ClientSettings {
  readonly protocol: ClientProtocol;
  readonly get: (suffix: string) => string;
  readonly time: (suffix: string) => number;
  readonly int: (suffix: string) => number;
  readonly bool: (suffix: string) => boolean;
  readonly list: (suffix: string) => readonly string[];
}

const settingsCache = new WeakMap<ConfigView, Map<ClientProtocol, ClientSettings>>();

/**
 * Reads `<protocol>_<suffix>`, falling back to the Postfix default when no
 * package declares it. A configuration view does not change, so each value
 * is worked out once per view.
 */
export function clientSettings(config: ConfigView, protocol: ClientProtocol): ClientSettings {
  let byProtocol = settingsCache.get(config);
  if (!byProtocol) settingsCache.set(config, (byProtocol = new Map()));
  let settings = byProtocol.get(protocol);
  if (!settings) byProtocol.set(protocol, (settings = readSettings(config, protocol)));
  return settings;
}

function readSettings(config: ConfigView, protocol: ClientProtocol): ClientSettings {
  const defaults = new Map(clientParameters(protocol).map((p) => [p.name, p.default]));
  const name = (s: string) => `${protocol}_${s}`;
  const known = (s: string) => config.has(name(s));
  const raw = (s: string) => (known(s) ? config.get(name(s)) : config.expand(defaults.get(name(s)) ?? ''));
  const time = (s: string) => {
    if (known(s)) return config.time(name(s));
    const v = raw(s);
    const m = /^(\d+)([smhdw]?)$/.exec(v.trim());
    const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m?.[2] ?? ''] ?? 1;
    return m ? Number(m[1]) * unit : 0;
  };
  const memo = <T>(read: (s: string) => T): ((s: string) => T) => {
    const seen = new Map<string, T>();
    return (s) => {
      if (!seen.has(s)) seen.set(s, read(s));
      return seen.get(s)!;
    };
  };
  return {
    protocol,
    get: memo(raw),
    time: memo(time),
    int: memo((s) => (known(s) ? config.int(name(s)) : Number(raw(s)) || 0)),
    bool: memo((s) => (known(s) ? config.bool(name(s)) : /^(yes|true|1)$/i.test(raw(s)))),
    list: memo((s) => (known(s) ? config.list(name(s)) : raw(s).split(/[\s,]+/).filter(Boolean))),
  };
}
export { CIPHERLIST_PARAMETERS };
