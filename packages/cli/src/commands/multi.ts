/**
 * NAME
 *   postern multi - list Postern instances (postmulti(1) -l)
 *
 * SYNOPSIS
 *   postern multi -l [-aRj] [-g group] [-i name] [-c config_dir]
 *
 * DESCRIPTION
 *   Lists the primary instance (the configuration directory of -c, $MAIL_CONFIG
 *   or the default instance) and the secondary instances of its
 *   multi_instance_directories, one a line as postmulti prints them: name
 *   (multi_instance_name, "-" when empty), group (multi_instance_group),
 *   enabled (multi_instance_enable: y or n) and configuration directory, in
 *   columns of 15, 15 and 9 characters. -j prints one JSON object a line
 *   instead, with postmulti's keys.
 *
 *   -a      all instances (the default)
 *   -g grp  the instances of a group
 *   -i name the instance of that name ("postfix-" may be left off, "-" is the
 *           primary instance, an absolute path names a configuration directory)
 *   -R      reverse order
 *
 *   postmulti's -p, -x and -e (running commands on each instance, creating
 *   and importing instances) are not implemented: run `postern -c DIR ...`
 *   for each directory listed.
 *
 * DIAGNOSTICS
 *   "postmulti: fatal: ..." on stderr, exit 1: an unreadable main.cf,
 *   "No matching instances", option errors.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createConfigView, discoverPlugins, parameterRegistry, parseMainCf, pluginDirsFromMainCf, type ParameterRegistry } from '@postern/core';
import { getopt, hasOpt, optValue } from '../getopt.js';
import { configDirectory } from '../instance.js';
import type { CommandIo } from '../io.js';

const PROGRAM = 'postmulti';

interface Instance {
  readonly name: string | undefined;
  readonly group: string | undefined;
  readonly enabled: boolean;
  readonly dir: string;
  readonly primary: boolean;
}

class Fatal extends Error {}

function load(dir: string, registry: ParameterRegistry, primary: boolean): Instance & { secondaries: string[] } {
  const file = join(dir, 'main.cf');
  if (!existsSync(file)) throw new Fatal(`Cannot parse ${dir}/main.cf file: No such file or directory`);
  const config = createConfigView({ mainCf: parseMainCf(readFileSync(file, 'utf8'), file), registry, configDirectory: dir });
  const opt = (name: string) => config.get(name) || undefined;
  const enable = config.get('multi_instance_enable').toLowerCase();
  if (enable !== 'yes' && enable !== 'no') throw new Fatal(`Unexpected ${dir}/main.cf entry: multi_instance_enable = ${enable}`);
  return { name: opt('multi_instance_name'), group: opt('multi_instance_group'), enabled: enable === 'yes', dir, primary, secondaries: config.list('multi_instance_directories') };
}

function matches(ip: Instance, how: { group?: string; name?: string }): boolean {
  if (how.group !== undefined) return ip.group === how.group;
  if (how.name === undefined) return true;
  const name = how.name;
  let iname: string;
  if (name.startsWith('/') || ip.name === undefined) iname = ip.dir;
  else if (!name.startsWith('postfix-') && ip.name.startsWith('postfix-')) iname = ip.name.slice('postfix-'.length);
  else iname = ip.name;
  return name === iname || (ip.primary && name === '-');
}

const json = (s: string) => JSON.stringify(s);

/** `postern multi` (postmulti -l). */
export async function multiCommand(argv: string[], io: CommandIo): Promise<number> {
  try {
    let p;
    try {
      p = getopt(argv, 'ac:e:g:i:jG:I:lpRvx');
    } catch (err) {
      throw new Fatal(`${(err as Error).message}\nusage: postmulti -l [-aRv] [-g group] [-i name]`);
    }
    const modes = ['e', 'l', 'p', 'x'].filter((m) => hasOpt(p, m));
    if (modes.length !== 1) throw new Fatal("Specify exactly one of '-e', '-l', '-p', '-x'");
    if (!hasOpt(p, 'l')) throw new Fatal(`-${modes[0]!} is not implemented by Postern: run postern -c DIR COMMAND for each directory that postern multi -l lists`);
    if (p.args.length > 0) throw new Fatal("Command not allowed with '-l'");
    if ([hasOpt(p, 'a'), hasOpt(p, 'g'), hasOpt(p, 'i')].filter(Boolean).length > 1) throw new Fatal("Specity no more than one of '-a', '-g', '-i'");
    const dir = configDirectory(optValue(p, 'c'), io.env).dir;
    const registry = parameterRegistry(await discoverPlugins(pluginDirsFromMainCf(dir)));
    const primary = load(dir, registry, true);
    let all: Instance[] = [primary, ...primary.secondaries.map((d) => load(d, registry, false))];
    if (hasOpt(p, 'R')) all = all.reverse();
    const how = { group: optValue(p, 'g'), name: optValue(p, 'i') };
    const chosen = all.filter((ip) => matches(ip, how));
    if (how.name !== undefined && chosen.length === 0) throw new Fatal(`No instance named ${how.name}`);
    for (const ip of chosen) {
      const [name, group, enabled] = [ip.name ?? '-', ip.group ?? '-', ip.enabled ? 'y' : 'n'];
      io.stdout.write(
        hasOpt(p, 'j')
          ? `{"name": ${json(name)},"group": ${json(group)},"enabled": ${json(enabled)},"config_directory": ${json(ip.dir)}}\n`
          : `${name.padEnd(15)} ${group.padEnd(15)} ${enabled.padEnd(9)} ${ip.dir}\n`,
      );
    }
    return 0;
  } catch (err) {
    if (!(err instanceof Fatal)) throw err;
    const [first, ...rest] = err.message.split('\n');
    io.stderr.write(rest.length > 0 ? `${PROGRAM}: ${first}\n${PROGRAM}: fatal: ${rest.join('\n')}\n` : `${PROGRAM}: fatal: ${first}\n`);
    return 1;
  }
}
