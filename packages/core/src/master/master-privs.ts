/**
 * The privileged start of a service process, as Postfix's single/multi/
 * trigger server skeletons do it: master starts every process as root; the
 * process reads main.cf, opens what needs privileges, and only then drops
 * to mail_owner (set_ugid: setgid, setgroups to that one group, setuid),
 * before it handles any client input.
 *
 * Opened while privileged (Postfix's pre_init):
 *   - the lookup tables named by the table parameters (ParameterSpec type
 *     "table") that the service's package declares, with the entry's -o
 *     overrides applied; a table type whose files are opened lazily opens
 *     them now (LookupTable.open), so a root-only table (sasl_passwd 0600)
 *     is read through the descriptor it holds;
 *   - the queue store.
 * A table that cannot be opened now is not an error here: the service meets
 * the same error where it uses the table, as before.
 *
 * Privileged services (master.cf unpriv = n) keep running as root.
 */
import type { ConfigView } from '../contracts/config.js';
import type { DependencyContainer } from 'tsyringe';
import type { Logger } from '../contracts/logger.js';
import type { ParameterSpec } from '../contracts/config.js';
import { TABLES } from '../contracts/table.js';
import { QUEUE_STORE } from '../contracts/queue.js';
import { use } from '../contracts/token.js';
import { splitTableList } from '../tables/registry.js';

/** The account an unprivileged service process drops to (master's mail_owner). */
export interface DropTo {
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
}

/** The names of the table parameters among a package's parameters. */
export function tableParameters(parameters: readonly ParameterSpec[] = []): string[] {
  return parameters.filter((p) => p.type === 'table').map((p) => p.name);
}

/**
 * Opens, while the process still runs as root, the tables that `names` (table
 * parameters) list in `config`, and the queue store. Returns the table specs
 * opened (for verbose logging).
 */
export async function openPrivileged(container: DependencyContainer, config: ConfigView, names: readonly string[], log: Logger): Promise<string[]> {
  const opened: string[] = [];
  const tables = use(container, TABLES);
  const seen = new Set<string>();
  for (const name of names) {
    let value: string;
    try {
      value = config.get(name);
    } catch {
      continue; // a bad value: the service reports it where it reads it
    }
    for (const spec of splitTableList(value)) {
      if (seen.has(spec)) continue;
      seen.add(spec);
      try {
        const table = tables.open(spec);
        await table.open?.();
        opened.push(spec);
      } catch (err) {
        log.debug(`${name}: ${spec}: not opened before the privilege drop: ${(err as Error).message}`);
      }
    }
  }
  try {
    use(container, QUEUE_STORE);
  } catch (err) {
    log.debug(`queue store not opened before the privilege drop: ${(err as Error).message}`);
  }
  return opened;
}

/** set_ugid(): group first (and no other groups), then the user; checked. */
export function dropPrivileges(to: DropTo): void {
  process.setgid!(to.gid);
  process.setgroups!([to.gid]);
  process.setuid!(to.uid);
  if (process.getuid!() !== to.uid || process.geteuid!() !== to.uid || process.getgid!() !== to.gid) {
    throw new Error(`cannot drop privileges to ${to.name} (uid ${to.uid}, gid ${to.gid})`);
  }
}
