/**
 * The parameter registry: which main.cf parameters the installed Postern
 * packages understand, who owns each, and its built-in default (postconf -d).
 *
 * Packages declare ParameterSpec lists (their plugin manifest's `parameters`)
 * under their package name; core declares CORE_PARAMETERS. On top of those,
 * every master.cf service S has the per-transport parameters of postconf(5)
 * ("transport_destination_concurrency_limit" and friends), named S_suffix, with
 * the default `$default_suffix` (`$initial_destination_concurrency`,
 * `$command_time_limit` where that is Postfix's default). An explicit
 * declaration (e.g. local's `local_destination_recipient_limit = 1`) wins over
 * the per-service form.
 */
import { createRequire } from 'node:module';
import { hostname, networkInterfaces } from 'node:os';
import type { ParameterSpec, ParameterType } from '../contracts/config.js';
import { SERVICE } from '../protocol/services.js';

/** Computes a default from other parameters (`get` returns expanded values). */
export type DefaultComputer = (get: (name: string) => string) => string;

/** A ParameterSpec whose default depends on the machine or on other parameters. */
export interface ComputedParameterSpec extends ParameterSpec {
  /** Computes the default at use; `default` then holds what postconf -d shows. */
  readonly compute?: DefaultComputer;
}

export interface RegisteredParameter {
  readonly spec: ComputedParameterSpec;
  /** The declaring package ("@postern/core", "@postern/plugin-smtpd", ...). */
  readonly owner: string;
  /** Set for S_suffix parameters: the master.cf service name S. */
  readonly service?: string;
}

/** Read-only runtime parameters: a ConfigView takes them from its process, never from main.cf. */
export const RUNTIME_PARAMETERS: ReadonlySet<string> = new Set(['process_name', 'process_id', 'service_name']);

/** The suffixes of postconf(5)'s per-transport parameters, with their defaults. */
export const SERVICE_PARAMETER_SUFFIXES: readonly ParameterSpec[] = [
  { name: 'delivery_slot_cost', default: '$default_delivery_slot_cost', type: 'int' },
  { name: 'delivery_slot_discount', default: '$default_delivery_slot_discount', type: 'int' },
  { name: 'delivery_slot_loan', default: '$default_delivery_slot_loan', type: 'int' },
  { name: 'destination_concurrency_failed_cohort_limit', default: '$default_destination_concurrency_failed_cohort_limit', type: 'int' },
  { name: 'destination_concurrency_limit', default: '$default_destination_concurrency_limit', type: 'int' },
  { name: 'destination_concurrency_negative_feedback', default: '$default_destination_concurrency_negative_feedback', type: 'string' },
  { name: 'destination_concurrency_positive_feedback', default: '$default_destination_concurrency_positive_feedback', type: 'string' },
  { name: 'destination_rate_delay', default: '$default_destination_rate_delay', type: 'time', unit: 's' },
  { name: 'destination_recipient_limit', default: '$default_destination_recipient_limit', type: 'int' },
  { name: 'extra_recipient_limit', default: '$default_extra_recipient_limit', type: 'int' },
  { name: 'initial_destination_concurrency', default: '$initial_destination_concurrency', type: 'int' },
  { name: 'minimum_delivery_slots', default: '$default_minimum_delivery_slots', type: 'int' },
  { name: 'recipient_limit', default: '$default_recipient_limit', type: 'int' },
  { name: 'recipient_refill_delay', default: '$default_recipient_refill_delay', type: 'time', unit: 's' },
  { name: 'recipient_refill_limit', default: '$default_recipient_refill_limit', type: 'int' },
  { name: 'time_limit', default: '$command_time_limit', type: 'time', unit: 's' },
  { name: 'transport_rate_delay', default: '$default_transport_rate_delay', type: 'time', unit: 's' },
];

/**
 * master.cf commands for which postconf lists the per-transport parameters
 * (Postfix's delivery agents); `spawn` and `pipe` also get S_time_limit.
 * Other services' S_suffix names are still known, just not listed.
 */
const DELIVERY_AGENT_COMMANDS: ReadonlySet<string> = new Set(['local', 'virtual', 'smtp', 'lmtp', 'error', 'pipe']);
const TIME_LIMIT_COMMANDS: ReadonlySet<string> = new Set(['pipe', 'spawn']);

const CORE_OWNER = '@postern/core';

function coreVersion(): string {
  const require = createRequire(import.meta.url);
  for (const path of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = require(path) as { name?: string; version?: string };
      if (pkg.name === CORE_OWNER && typeof pkg.version === 'string') return pkg.version;
    } catch {
      // try the next layout (dist/src/config or src/config)
    }
  }
  return '0.0.0';
}

/** Postfix's myhostname default: the host name, with ".localdomain" when it has no domain part. */
export function defaultHostname(): string {
  const name = hostname().toLowerCase();
  return name.includes('.') ? name : `${name}.localdomain`;
}

/** Postfix's mydomain default: myhostname without its first label, or "localdomain". */
export function domainOf(host: string): string {
  const dot = host.indexOf('.');
  return dot < 0 || dot === host.length - 1 ? 'localdomain' : host.slice(dot + 1);
}

function ipv4Network(addr: string, prefix: number): string {
  const n = addr.split('.').reduce((acc, p) => (acc << 8) + Number(p), 0) >>> 0;
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
  const net = (n & mask) >>> 0;
  return [24, 16, 8, 0].map((s) => (net >>> s) & 255).join('.');
}

function ipv6Groups(addr: string): number[] {
  const bare = addr.split('%')[0] as string;
  const [head, tail] = bare.includes('::') ? (bare.split('::') as [string, string]) : [bare, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const fill = tail === undefined ? [] : new Array<string>(8 - h.length - t.length).fill('0');
  return [...h, ...fill, ...t].map((g) => parseInt(g, 16));
}

/** Formats eight 16-bit groups the way inet_ntop does (longest zero run of 2+ as "::"). */
function ipv6Format(groups: number[]): string {
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best < 0) return hex.join(':');
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`;
}

function ipv6Network(addr: string, prefix: number): string {
  const groups = ipv6Groups(addr).map((g, i) => {
    const bits = Math.max(0, Math.min(16, prefix - i * 16));
    return bits === 16 ? g : bits === 0 ? 0 : g & ((0xffff << (16 - bits)) & 0xffff);
  });
  return ipv6Format(groups);
}

/** Postfix's mynetworks default for a mynetworks_style: host, subnet or class. */
export function defaultMynetworks(style: string): string {
  const v4: string[] = [];
  const v6: string[] = [];
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) {
      const prefix = Number((a.cidr ?? `/${a.family === 'IPv4' ? 32 : 128}`).split('/')[1]);
      if (a.family === 'IPv4') {
        if (style === 'host') v4.push(`${a.address}/32`);
        else if (style === 'class') {
          const first = Number(a.address.split('.')[0]);
          const bits = first < 128 ? 8 : first < 192 ? 16 : 24;
          v4.push(`${ipv4Network(a.address, bits)}/${bits}`);
        } else v4.push(`${ipv4Network(a.address, prefix)}/${prefix}`);
      } else if (style === 'host') {
        v6.push(`[${ipv6Format(ipv6Groups(a.address))}]/128`);
      } else {
        v6.push(`[${ipv6Network(a.address, prefix)}]/${prefix}`);
      }
    }
  }
  return [...new Set([...v4, ...v6])].join(' ');
}

const s = (name: string, def: string, type: ParameterType = 'string', extra: Partial<ComputedParameterSpec> = {}): ComputedParameterSpec => ({
  name,
  default: def,
  type,
  ...(type === 'time' ? { unit: 's' as const } : {}),
  ...extra,
});

const HOSTNAME = defaultHostname();

/**
 * Core's own parameters, with Postfix 3.7's defaults (postconf -d): the ones
 * every service reads (directories, identity, logging, process management)
 * and the qmgr-wide defaults that per-transport parameters refer to.
 */
export const CORE_PARAMETERS: readonly ComputedParameterSpec[] = [
  // Files and directories.
  s('config_directory', '/etc/postfix', 'string', { description: 'The default location of the main.cf and master.cf configuration files.' }),
  s('queue_directory', '/var/spool/postfix', 'string', { description: 'The location of the top-level queue directory.' }),
  s('daemon_directory', '/usr/lib/postfix/sbin', 'string', { description: 'The directory with daemon programs.' }),
  s('data_directory', '/var/lib/postfix', 'string', { description: 'The directory with writable non-queue files (caches, random seed).' }),
  s('command_directory', '/usr/sbin', 'string', { description: 'The location of the administrative commands.' }),
  s('meta_directory', '/etc/postfix', 'string', { description: 'The location of non-executable files shared among instances.' }),
  s('process_id_directory', 'pid', 'string', { description: 'The queue_directory subdirectory with process ID files.' }),
  // Identity and privileges.
  s('mail_owner', 'postfix', 'string', { description: 'The owner of the queue and of most daemon processes.' }),
  s('setgid_group', 'postdrop', 'string', { description: 'The group of the mail submission and queue inspection commands.' }),
  s('default_privs', 'nobody', 'string', { description: 'The rights used by local(8) for delivery to external files and commands.' }),
  s('mail_name', 'Postern', 'string', { description: 'The mail system name shown in the SMTP greeting and bounces.' }),
  s('mail_version', coreVersion(), 'string', { description: 'The version of the mail system (read-only).' }),
  s('compatibility_level', '0', 'string', { description: 'The backwards-compatibility level that selects default settings.' }),
  // Host, domain and network.
  s('myhostname', HOSTNAME, 'string', { description: 'The internet hostname of this mail system.' }),
  s('mydomain', domainOf(HOSTNAME), 'string', {
    description: 'The internet domain name of this mail system.',
    compute: (get) => domainOf(get('myhostname')),
  }),
  s('myorigin', '$myhostname', 'string', { description: 'The domain that locally-posted mail appears to come from.' }),
  s('mydestination', '$myhostname, localhost.$mydomain, localhost', 'list', { description: 'The domains this machine delivers locally.' }),
  s('mynetworks', defaultMynetworks('subnet'), 'list', {
    description: 'The trusted remote SMTP clients (default: computed from mynetworks_style).',
    compute: (get) => defaultMynetworks(get('mynetworks_style')),
  }),
  s('mynetworks_style', '${{$compatibility_level} <level {2} ? {subnet} : {host}}', 'string', {
    description: 'How mynetworks is computed when not set: host, subnet or class.',
  }),
  s('inet_interfaces', 'all', 'list', { description: 'The network interface addresses this mail system receives mail on.' }),
  s('inet_protocols', 'all', 'list', { description: 'The Internet protocols the mail system uses: ipv4, ipv6, all.' }),
  s('proxy_interfaces', '', 'list', { description: 'Network addresses at which the system receives mail via a proxy or NAT.' }),
  s('known_tcp_ports', 'lmtp=24, smtp=25, smtps=submissions=465, submission=587', 'list', {
    description: 'Service names that master.cf inet entries may use without /etc/services.',
  }),
  s('parent_domain_matches_subdomains', 'debug_peer_list,fast_flush_domains,mynetworks,permit_mx_backup_networks,qmqpd_authorized_clients,relay_domains,smtpd_access_maps', 'list', {
    description: 'Features that match subdomains of "domain.tld" automatically.',
  }),
  // Logging.
  s('soft_bounce', 'no', 'bool', { description: 'Safety net: delivery agents defer mail (4.X.X) instead of bouncing it, and smtpd answers 4XX instead of 5XX.' }),
  s('delay_logging_resolution_limit', '2', 'int', { description: 'The maximal number of digits after the decimal point in delay= and delays= logging.' }),
  s('syslog_name', '${multi_instance_name?{$multi_instance_name}:{postfix}}', 'string', { description: 'The name prepended to the process name in log records (postfix, as Postfix has it, so log tools read the maillog as installed).' }),
  s('syslog_facility', 'mail', 'string', { description: 'The syslog facility of logging.' }),
  s('maillog_file', '', 'string', { description: 'The file that postlogd(8) writes logging to (empty: syslog).' }),
  s('maillog_file_prefixes', '/var, /dev/stdout', 'list', { description: 'Allowed prefixes for maillog_file.' }),
  s('postlog_service_name', SERVICE.POSTLOG, 'string', { description: 'The name of the postlogd(8) service entry in master.cf.' }),
  s('debug_peer_level', '2', 'int', { description: 'The verbose logging level increment for hosts in debug_peer_list.' }),
  s('debug_peer_list', '', 'list', { description: 'Hosts for which logging is made more verbose.' }),
  s('multi_instance_name', '', 'string', { description: 'The optional instance name of this mail system.' }),
  s('multi_instance_enable', 'no', 'bool', { description: 'Allow this instance to be started by postmulti.' }),
  s('multi_instance_group', '', 'string', { description: 'The optional instance group name of this mail system (postmulti -g).' }),
  s('multi_instance_directories', '', 'list', { description: 'The configuration directories of the secondary instances, in start order (postmulti -l lists them).' }),
  s('multi_instance_wrapper', '', 'string', { description: 'The command that runs postern start/stop/... on every instance when multi_instance_directories is set (postern multi -e init sets it to postern multi -p --).' }),
  s('postmulti_start_commands', 'start', 'list', { description: 'The postern commands that postern multi -p runs as "start" commands: a disabled instance gets postern check instead.' }),
  s('postmulti_stop_commands', 'stop abort drain quick-stop', 'list', { description: 'The postern commands that postern multi -p runs as "stop" commands: in reverse order, disabled instances skipped.' }),
  s('postmulti_control_commands', 'reload flush', 'list', { description: 'The postern commands that postern multi -p runs only on enabled (running) instances.' }),
  s('alternate_config_directories', '', 'list', { description: 'Configuration directories besides the default one (postern multi -e deport adds a deported instance here; Postern\'s commands accept any -c directory).' }),
  // Process management.
  s('default_process_limit', '100', 'int', { description: 'The default maximal number of processes per master.cf service.' }),
  s('max_idle', '100s', 'time', { description: 'How long an idle daemon process waits for work before exiting.' }),
  // Postfix's default is 100: one Postfix process serves one client at a time.
  // A Postern process serves many at once, so it is recycled after 10000.
  s('max_use', '10000', 'int', { description: 'How many clients a daemon process serves before exiting (Postfix: 100).' }),
  s('ipc_timeout', '3600s', 'time', { description: 'The time limit for sending or receiving over an internal channel.' }),
  s('ipc_idle', '5s', 'time', { description: 'How long an idle internal client connection stays open.' }),
  s('daemon_timeout', '18000s', 'time', { description: 'How long a daemon may take to handle a request before its watchdog fires.' }),
  s('service_throttle_time', '60s', 'time', { description: 'How long master waits before restarting a failing service.' }),
  s('trigger_timeout', '10s', 'time', { description: 'The time limit for sending a trigger to a daemon.' }),
  s('in_flow_delay', '1s', 'time', { description: 'How long message submission pauses when the queue manager falls behind.' }),
  s('fork_attempts', '5', 'int', { description: 'How many times to try to start a process before giving up.' }),
  s('fork_delay', '1s', 'time', { description: 'The delay between attempts to start a process.' }),
  s('application_event_drain_time', '100s', 'time', { description: 'How long postkick and friends wait for events to drain.' }),
  s('command_time_limit', '1000s', 'time', { description: 'The time limit for delivery to external commands.' }),
  s('import_environment', 'MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ XAUTHORITY DISPLAY LANG=C POSTLOG_SERVICE POSTLOG_HOSTNAME', 'list', {
    description: 'Environment variables that daemon processes inherit from master.',
  }),
  s('export_environment', 'TZ MAIL_CONFIG LANG', 'list', { description: 'Environment variables passed to external commands.' }),
  s('stress', '', 'string', { description: 'Set to "yes" by master for the new processes of a public inet service that ran out of process slots (STRESS_README; read-only).' }),
  s('process_name', '', 'string', { description: 'The process name of a daemon process (read-only).' }),
  s('process_id', '', 'string', { description: 'The process ID of a daemon process (read-only).' }),
  s('service_name', '', 'string', { description: 'The master.cf service name of a daemon process (read-only).' }),
  // Mail-wide limits and features.
  s('message_size_limit', '10240000', 'size', { description: 'The maximal size in bytes of a message, including envelope information.' }),
  s('line_length_limit', '2048', 'int', { description: 'The maximal length of a message line before it is broken up.' }),
  s('header_size_limit', '102400', 'int', { description: 'The maximal amount of memory in bytes for one message header.' }),
  s('recipient_delimiter', '', 'string', { description: 'The separators between user names and address extensions.' }),
  s('smtputf8_enable', '${{$compatibility_level} <level {1} ? {no} : {yes}}', 'bool', { description: 'Enable SMTPUTF8 support.' }),
  s('biff', 'yes', 'bool', { description: 'Whether local(8) notifies the biff service of new mail.' }),
  s('alias_maps', 'hash:/etc/aliases, nis:mail.aliases', 'table', { description: 'The alias databases used by local(8) delivery.' }),
  s('alias_database', 'hash:/etc/aliases', 'table', { description: 'The alias databases built by newaliases.' }),
  s('default_database_type', 'hash', 'string', { description: 'The default table type for newaliases and postmap.' }),
  s('default_delivery_status_filter', '', 'table', {
    description: 'Tables that replace the status code and text of a delivery before it is logged and reported ("5.1.1 user unknown" -> "4.1.1 ..."): 4.X.X and 5.X.X only into 4.X.X or 5.X.X, 2.X.X only into 2.X.X. The default of smtp_, lmtp_, local_, virtual_ and pipe_delivery_status_filter.',
  }),
  s('daemon_table_open_error_is_fatal', 'no', 'bool', { description: 'Whether a daemon stops when a table cannot be opened.' }),
  s('hash_queue_depth', '1', 'int', { description: 'The number of subdirectory levels for hashed queues.' }),
  s('hash_queue_names', 'deferred, defer', 'list', { description: 'The queues that are hashed over subdirectories.' }),
  // Defaults that the per-transport (S_suffix) parameters refer to.
  s('default_delivery_slot_cost', '5', 'int'),
  s('default_delivery_slot_discount', '50', 'int'),
  s('default_delivery_slot_loan', '3', 'int'),
  s('default_destination_concurrency_failed_cohort_limit', '1', 'int'),
  s('default_destination_concurrency_limit', '20', 'int'),
  s('default_destination_concurrency_negative_feedback', '1', 'string'),
  s('default_destination_concurrency_positive_feedback', '1', 'string'),
  s('default_destination_rate_delay', '0s', 'time'),
  s('default_destination_recipient_limit', '50', 'int'),
  s('default_extra_recipient_limit', '1000', 'int'),
  s('default_minimum_delivery_slots', '3', 'int'),
  s('default_recipient_limit', '20000', 'int'),
  s('default_recipient_refill_delay', '5s', 'time'),
  s('default_recipient_refill_limit', '100', 'int'),
  s('default_transport_rate_delay', '0s', 'time'),
  s('initial_destination_concurrency', '5', 'int'),
];

/** The master.cf facts the registry needs: a service's name and command. */
export interface ServiceRef {
  readonly name: string;
  readonly command?: string;
}

/** Core parameters Postfix does not have (Postern's own, for what Node.js does differently). */
export const POSTERN_CORE_PARAMETERS: readonly ComputedParameterSpec[] = [
  s('queue_backend', 'lmdb', 'string', { description: 'Postern: the queue store backend (lmdb: the embedded LMDB queue under queue_directory; redis: @postern/queue-redis).' }),
  s('anvil_backend', 'internal', 'string', { description: 'Postern: where anvil(8) keeps its counters (internal: its memory; redis: shared by every node, @postern/redis).' }),
  s('flush_backend', 'internal', 'string', { description: 'Postern: where flush(8) keeps its fast flush logs (internal: queue_directory/flush; redis: shared by every node, @postern/redis).' }),
  s('master_spawn_idle_cores', '0.3', 'string', {
    description:
      'Postern: master starts another process of a busy service only while the machine has this much idle CPU, in cores (0: no such check).',
  }),
  s('in_process_services', '', 'string', {
    description:
      'Postern: master.cf services (for example rewrite, cleanup) that a process of this service also runs inside itself, for its own calls only: a call to them is a method call instead of a round trip over a unix socket, and the process holds their memory instead of a process of theirs. Set with -o on one service; their own processes still serve everybody else.',
  }),
  s('service_node_options', '--max-semi-space-size=2', 'string', {
    description:
      "Postern: Node.js options of the service processes master starts (V8's young generation at 2 MiB semi-spaces instead of 16 holds about 10 MiB less per busy process at the same throughput). Read when a process starts; set with -o for one service, whose processes are then started afresh instead of taken from the spares (which have main.cf's).",
  }),
  s('master_spare_processes', '1', 'int', {
    description:
      'Postern: how many processes master keeps started ahead, with the plugins loaded, to become any service at once (a Node.js process takes 0.5-2 s to start; 0: start each one when needed).',
  }),
];

export class ParameterRegistry {
  private readonly params = new Map<string, RegisteredParameter>();
  private readonly services = new Map<string, string | undefined>();
  private readonly conflictList: string[] = [];

  /** A registry holding CORE_PARAMETERS and MASTER_POSTERN_PARAMETERS, declared by @postern/core. */
  static withCore(): ParameterRegistry {
    const r = new ParameterRegistry();
    r.declare(CORE_OWNER, CORE_PARAMETERS);
    r.declare(CORE_OWNER, POSTERN_CORE_PARAMETERS);
    return r;
  }

  /**
   * Declares a package's parameters. A name declared again by another package
   * with a different default keeps the first declaration and is recorded in
   * `conflicts`; the same default is accepted silently.
   */
  declare(owner: string, specs: readonly ComputedParameterSpec[]): void {
    for (const spec of specs) {
      const had = this.params.get(spec.name);
      if (had !== undefined) {
        if (had.spec.default !== spec.default) {
          this.conflictList.push(`parameter ${spec.name}: declared by ${had.owner} (default "${had.spec.default}") and by ${owner} (default "${spec.default}"); using ${had.owner}'s`);
        }
        continue;
      }
      this.params.set(spec.name, { spec, owner });
    }
  }

  /** Conflicting declarations seen so far, one line each. */
  get conflicts(): readonly string[] {
    return this.conflictList;
  }

  /** Registers master.cf services, whose S_suffix per-transport parameters become known. */
  addServices(services: readonly ServiceRef[]): void {
    for (const svc of services) {
      const had = this.services.get(svc.name);
      // A name may appear with several types (smtp/inet, smtp/unix): remember a delivery agent if any.
      if (had === undefined || !DELIVERY_AGENT_COMMANDS.has(had)) this.services.set(svc.name, svc.command);
    }
  }

  /** The service names registered with addServices. */
  serviceNames(): string[] {
    return [...this.services.keys()];
  }

  /** The S_suffix parameter `name` for a registered (or given) service, if it is one. */
  serviceParameter(name: string, extraServices?: Iterable<string>): RegisteredParameter | undefined {
    const extra = extraServices === undefined ? undefined : new Set(extraServices);
    for (const suffix of SERVICE_PARAMETER_SUFFIXES) {
      const tail = `_${suffix.name}`;
      if (!name.endsWith(tail) || name.length === tail.length) continue;
      const service = name.slice(0, -tail.length);
      if (this.services.has(service) || extra?.has(service)) {
        return { spec: { ...suffix, name }, owner: CORE_OWNER, service };
      }
    }
    return undefined;
  }

  /** The declaration of `name` (explicit, or per-service), if any. */
  lookup(name: string): RegisteredParameter | undefined {
    return this.params.get(name) ?? this.serviceParameter(name);
  }

  /** True when an installed package declares `name` or it is a registered service's S_suffix parameter. */
  known(name: string): boolean {
    return this.lookup(name) !== undefined;
  }

  /** The declaring package of `name`. */
  owner(name: string): string | undefined {
    return this.lookup(name)?.owner;
  }

  /**
   * The built-in default of `name` (unexpanded), or undefined when unknown.
   * With `get`, computed defaults (mydomain, mynetworks) follow the current
   * configuration; without, they are what postconf -d shows.
   */
  defaultValue(name: string, get?: (name: string) => string): string | undefined {
    const reg = this.lookup(name);
    if (reg === undefined) return undefined;
    if (get !== undefined && reg.spec.compute !== undefined) return reg.spec.compute(get);
    return reg.spec.default;
  }

  /** Every declared name, plus the per-transport names postconf lists for the registered delivery agents; sorted. */
  names(): string[] {
    const all = new Set(this.params.keys());
    for (const [service, command] of this.services) {
      if (command === undefined) continue;
      for (const suffix of SERVICE_PARAMETER_SUFFIXES) {
        const listed = suffix.name === 'time_limit' ? TIME_LIMIT_COMMANDS.has(command) : DELIVERY_AGENT_COMMANDS.has(command);
        if (listed) all.add(`${service}_${suffix.name}`);
      }
    }
    return [...all].sort(byteOrder);
  }

  /** The explicit declarations of one package. */
  ownedBy(owner: string): RegisteredParameter[] {
    return [...this.params.values()].filter((p) => p.owner === owner);
  }
}

/** strcmp order (what postconf sorts by). */
export function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
