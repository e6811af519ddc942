/**
 * The support commands of Postfix's OVERVIEW as postern subcommands, each with
 * the configuration it needs: the parameter registry of the installed
 * packages, the table registry, the config directory from -c, $MAIL_CONFIG or
 * the default instance.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createConfigView, registerPluginTables, type LookupTable, type PluginSet, discoverPlugins, loadMainCf, parameterRegistry, pluginDirsFromMainCf, type ConfigView, type ParameterRegistry } from '@postern/core';
import { createTableRegistry } from '@postern/tables';
import { getopt, optValue } from '../getopt.js';
import { configDirectory } from '../instance.js';
import { commandLogger, type CommandIo } from '../io.js';
import { confCommand } from './conf.js';
import { aliasCommand, newaliasesCommand } from './alias.js';
import { mapCommand } from './map.js';
import { queueCommand } from './queue.js';
import { superCommand } from './super.js';
import { catCommand } from './cat.js';
import { logCommand } from './log.js';
import { kickCommand } from './kick.js';
import { lockCommand } from './lock.js';
import { qshapeCommand } from './qshape.js';
import { upgradeCommand } from './upgrade.js';
import { multiCommand } from './multi.js';
import { tlsCommand } from './tls.js';

/**
 * The config directory of a command line (getopt with the command's own
 * letters): -c, else $MAIL_CONFIG, else the default instance; and the argv
 * with "-c DIR" added when it was not given, for commands that read -c themselves.
 */
function chosenDir(argv: readonly string[], letters: string, io: CommandIo): { dir: string; argv: string[] } {
  let explicit: string | undefined;
  try {
    explicit = optValue(getopt(argv, letters), 'c');
  } catch {
    /* the command reports its own usage errors */
  }
  const { dir } = configDirectory(explicit, io.env);
  return { dir, argv: explicit ? [...argv] : ['-c', dir, ...argv] };
}

interface Context {
  readonly dir: string;
  readonly registry: ParameterRegistry;
  readonly config: ConfigView;
  readonly plugins: PluginSet;
}

async function context(dir: string): Promise<Context> {
  const plugins = await discoverPlugins(pluginDirsFromMainCf(dir));
  const registry = parameterRegistry(plugins);
  const mainCf = existsSync(join(dir, 'main.cf')) ? await loadMainCf(dir) : undefined;
  return { dir, registry, plugins, config: createConfigView({ mainCf, registry, configDirectory: dir }) };
}

type Command = (argv: string[], io: CommandIo) => Promise<number>;

const conf: Command = async (argv, io) => {
  const chosen = chosenDir(argv, 'aAbc:C:deEfFhHlmMno:pPtT:vxX#', io);
  const { registry, plugins } = await context(chosen.dir);
  const tableTypes = () => registerPluginTables(createTableRegistry({ log: commandLogger('postconf', io) }), plugins.plugins).types();
  return confCommand(chosen.argv, io, registry, { tableTypes });
};

function tableAdmin(program: 'postmap' | 'postalias'): Command {
  return async (argv, io) => {
    const { config, plugins } = await context(chosenDir(argv, 'Nfinoprsuvwc:d:q:', io).dir);
    // Table types installed packages add (redis:, ...) answer -q like the built-in ones.
    const registry = registerPluginTables(createTableRegistry({ log: commandLogger(program, io) }), plugins.plugins);
    // Network tables (redis:) hold connections open: close every table the command opened.
    const opened = new Set<LookupTable>();
    const open = registry.open.bind(registry);
    registry.open = (spec) => {
      const table = open(spec);
      opened.add(table);
      return table;
    };
    const options = { registry, defaultType: config.get('default_database_type') || 'lmdb' };
    try {
      return await (program === 'postmap' ? mapCommand(argv, io, options) : aliasCommand(argv, io, options));
    } finally {
      await Promise.all([...opened].map((t) => t.close?.().catch(() => undefined)));
    }
  };
}

/** newaliases(1): postalias for each table in alias_database; -c config_dir as the other commands take it. */
const newaliases: Command = async (argv, io) => {
  let parsed;
  try {
    parsed = getopt(argv, 'c:v');
  } catch (err) {
    io.stderr.write(`newaliases: fatal: ${(err as Error).message}\n`);
    return 1;
  }
  const { config } = await context(configDirectory(optValue(parsed, 'c'), io.env).dir);
  const registry = createTableRegistry({ log: commandLogger('newaliases', io) });
  return newaliasesCommand(parsed.args, io, {
    registry,
    defaultType: config.get('default_database_type') || 'lmdb',
    aliasDatabase: config.get('alias_database'),
  });
};

export const ADMIN_COMMANDS: Readonly<Record<string, Command>> = {
  conf,
  map: tableAdmin('postmap'),
  alias: tableAdmin('postalias'),
  newaliases,
  queue: queueCommand,
  super: superCommand,
  cat: catCommand,
  log: logCommand,
  kick: kickCommand,
  lock: lockCommand,
  qshape: qshapeCommand,
  'upgrade-configuration': upgradeCommand,
  multi: multiCommand,
  tls: tlsCommand,
};
