/**
 * postern(1): one command for Postfix's command set. Each subcommand takes the
 * flags of the Postfix command it stands for:
 *
 *   postern start|start-fg|stop|abort|reload|status|check [-c dir] [-v]   postfix(1)
 *   postern conf ...                                                       postconf(1)
 *   postern map ...                                                        postmap(1)
 *   postern alias ...                                                      postalias(1)
 *   postern queue | super | cat | log | kick | lock ...   postqueue(1) postsuper(1) postcat(1) postlog(1) postkick(1) postlock(1)
 */
import { lifecycleCommand } from './commands/lifecycle.js';
import { processIo, type CommandIo } from './io.js';

const USAGE = `usage: postern command [options]
  start | start-fg | stop | abort | reload | status | check   [-c config_dir] [-v]
  conf   [-c config_dir] [-dhnMX] [-e name=value...] [name...]            (postconf)
  map    [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file...  (postmap)
  alias  [-Nfinoprsuvw] [-c config_dir] [-d key] [-q key] [type:]file...  (postalias)
  newaliases                                                              (newaliases)
  queue  [-v] [-c config_dir] -f | -i queue_id | -j | -p | -s site        (postqueue)
  super  [-psSv] [-c config_dir] [-d|-h|-H|-r queue_id|ALL [queue]]       (postsuper)
  cat    [-bdehoqv] [-c config_dir] -q queue_id...                        (postcat)
  log    [-iv] [-c config_dir] [-p priority] [-t tag] [text...]           (postlog)
  kick   [-c config_dir] [-v] class service request                       (postkick)
  lock   [-c config_dir] [-l lock_style] [-v] file command...             (postlock)
`;

type Command = (argv: string[], io: CommandIo) => Promise<number>;

const LIFECYCLE = ['start', 'start-fg', 'stop', 'abort', 'reload', 'status', 'check'];

async function loadCommand(name: string): Promise<Command | undefined> {
  if (LIFECYCLE.includes(name)) return (argv, io) => lifecycleCommand(name, argv, io);
  const admin = await import('./commands/admin.js');
  return admin.ADMIN_COMMANDS[name];
}

export async function run(argv: string[], io: CommandIo = processIo): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '-h' || name === '--help' || name === 'help') {
    io.stderr.write(USAGE);
    return name ? 0 : 1;
  }
  const command = await loadCommand(name);
  if (!command) {
    io.stderr.write(`postern: unknown command: ${name}\n${USAGE}`);
    return 1;
  }
  return command(rest, io);
}
