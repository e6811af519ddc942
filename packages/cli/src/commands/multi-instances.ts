/**
 * postmulti(1)'s instance table: the primary instance (the configuration
 * directory of -c, $MAIL_CONFIG or the default instance) and the secondary
 * instances of its multi_instance_directories, each read from its main.cf
 * (queue_directory, data_directory, multi_instance_name,
 * multi_instance_group, multi_instance_enable, expanded as `postconf -x`
 * gives them). As postmulti.c's register_claim(), every instance name,
 * config_directory, queue_directory and data_directory belongs to one
 * instance only: a second claim is fatal. Instance selection (-a, -g, -i)
 * matches as match_instance_selection() does.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConfigView, discoverPlugins, parameterRegistry, parseMainCf, pluginDirsFromMainCf, type ConfigView, type ParameterRegistry } from '@postern/core';

/** postmulti's own messages go out as "postmulti: fatal: ..."; the life-cycle steps (postmulti-script's) as "postern/postmulti-script: fatal: ...". */
export const PROGRAM = 'postmulti';
export const SCRIPT = 'postern/postmulti-script';

/** Mandatory prefix of non-empty instance names. */
export const NAME_PREFIX = 'postfix-';

/** A fatal error: the message, and the program that reports it. */
export class MultiFatal extends Error {
  constructor(
    message: string,
    readonly program: string = PROGRAM,
  ) {
    super(message);
  }
}

export interface Instance {
  configDir: string;
  queueDir: string;
  dataDir: string;
  /** multi_instance_name; undefined when empty. */
  name: string | undefined;
  /** multi_instance_group; undefined when empty. */
  group: string | undefined;
  enabled: boolean;
  readonly primary: boolean;
}

/** The instances in their order (the primary first), with the primary's configuration. */
export interface InstanceTable {
  readonly instances: Instance[];
  /** The primary instance's main.cf, expanded. */
  readonly primary: ConfigView;
  readonly registry: ParameterRegistry;
  readonly claims: Claims;
}

export type Selection = { readonly type: 'none' } | { readonly type: 'all' } | { readonly type: 'name' | 'group'; readonly name: string };

/** Names and directories, each owned by one instance ("config_dir, parameter"). */
export class Claims {
  private readonly owners = new Map<string, string>();

  owner(value: string): string | undefined {
    return this.owners.get(value);
  }

  register(instancePath: string, param: string, value: string): void {
    const requestor = `${instancePath}, ${param}`;
    const owner = this.owners.get(value);
    if (owner === undefined) this.owners.set(value, requestor);
    else if (owner !== requestor) throw new MultiFatal(`instance ${instancePath}, ${param}=${value} conflicts with instance ${owner}=${value}`);
  }

  claim(ip: Instance): void {
    if (ip.name !== undefined) this.register(ip.configDir, 'multi_instance_name', ip.name);
    this.register(ip.configDir, 'config_directory', ip.configDir);
    this.register(ip.configDir, 'queue_directory', ip.queueDir);
    this.register(ip.configDir, 'data_directory', ip.dataDir);
  }
}

/** The main.cf of a configuration directory, as a view with its defaults. */
export function readMainCf(dir: string, registry: ParameterRegistry): ConfigView {
  const file = join(dir, 'main.cf');
  if (!existsSync(file)) throw new MultiFatal(`Cannot parse ${dir}/main.cf file: No such file or directory`);
  return createConfigView({ mainCf: parseMainCf(readFileSync(file, 'utf8'), file), registry, configDirectory: dir });
}

const orUndefined = (s: string) => (s === '' ? undefined : s);

/** load_instance(): an instance's private settings from its main.cf. */
export function loadInstance(dir: string, registry: ParameterRegistry, primary = false): Instance {
  const config = readMainCf(dir, registry);
  const enable = config.get('multi_instance_enable');
  const bool = enable.toLowerCase();
  if (!primary && bool !== 'yes' && bool !== 'no') throw new MultiFatal(`Unexpected ${dir}/main.cf entry: multi_instance_enable = ${enable}`);
  return {
    configDir: dir,
    queueDir: config.get('queue_directory'),
    dataDir: config.get('data_directory'),
    name: orUndefined(config.get('multi_instance_name')),
    group: orUndefined(config.get('multi_instance_group')),
    enabled: bool === 'yes',
    primary,
  };
}

/** load_all_instances(): the primary (enabled when it has no secondaries: single-instance mode), then each secondary, claiming their names. */
export async function loadInstances(dir: string): Promise<InstanceTable> {
  const registry = parameterRegistry(await discoverPlugins(pluginDirsFromMainCf(dir)));
  const config = readMainCf(dir, registry);
  const secondaries = config.list('multi_instance_directories');
  const primary = loadInstance(dir, registry, true);
  if (secondaries.length === 0) primary.enabled = true;
  const claims = new Claims();
  const instances: Instance[] = [];
  for (const ip of [primary, ...secondaries.map((d) => loadInstance(d, registry))]) {
    claims.claim(ip);
    instances.push(ip);
  }
  return { instances, primary: config, registry, claims };
}

/** match_instance_selection(): by name (or its suffix after "postfix-"), by directory, "-" for the primary; or by group. */
export function matches(ip: Instance, selection: Selection): boolean {
  switch (selection.type) {
    case 'none':
      return false;
    case 'all':
      return true;
    case 'group':
      return ip.group === selection.name;
    case 'name': {
      const name = selection.name;
      let iname: string;
      if (name.startsWith('/') || ip.name === undefined) iname = ip.configDir;
      else if (!name.startsWith(NAME_PREFIX) && ip.name.startsWith(NAME_PREFIX)) iname = ip.name.slice(NAME_PREFIX.length);
      else iname = ip.name;
      return name === iname || (ip.primary && name === '-');
    }
  }
}
