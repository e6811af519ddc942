/**
 * The installed plugin that provides a master.cf command, for the commands
 * that run part of a service in their own process (sendmail -bs runs smtpd
 * and trivial-rewrite). The CLI imports no plugin statically: what is not
 * installed is named, with the package to install.
 */
import { pathToFileURL } from 'node:url';
import { COMMAND_PACKAGES, discoverPlugins, pluginDirsFromMainCf } from '@postern/core';
import { CommandFatal, EX } from './commands/queue.js';

/** The main module of the package providing `command` (its index, with the package's exports). */
export async function importProvider<T>(configDir: string, command: string, status: number = EX.UNAVAILABLE): Promise<T> {
  const set = await discoverPlugins(pluginDirsFromMainCf(configDir));
  const provider = set.commands.get(command);
  if (!provider) {
    const pkg = COMMAND_PACKAGES[command] ?? `a package providing "${command}"`;
    throw new CommandFatal(`no installed package provides the ${command} service: install ${pkg}`, status);
  }
  return (await import(pathToFileURL(provider.main).href)) as T;
}
