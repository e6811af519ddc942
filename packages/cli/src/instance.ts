/**
 * Where a Postern instance lives. The configuration directory is `-c DIR`,
 * else $MAIL_CONFIG (as Postfix's commands), else $POSTERN_HOME/etc, with
 * POSTERN_HOME defaulting to ~/.postern: a per-user instance that needs no
 * root, whose queue and mailboxes are under the same directory. The first
 * start of the default instance writes its main.cf and master.cf from the
 * templates of the full distribution (@postern/mta's conf/); a slim install
 * without it names its configuration with -c.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir, hostname, userInfo } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createRequire } from 'node:module';
import { CommandFatal } from './commands/queue.js';

/** The default configuration's templates: @postern/mta's conf/, when the full distribution is installed. */
export function templateDir(): string | undefined {
  try {
    return join(dirname(createRequire(import.meta.url).resolve('@postern/mta/package.json')), 'conf');
  } catch {
    return undefined;
  }
}

export function posternHome(env: NodeJS.ProcessEnv = process.env): string {
  return resolve(env['POSTERN_HOME'] || join(homedir(), '.postern'));
}

export interface ConfigDirChoice {
  readonly dir: string;
  /** True when neither -c nor $MAIL_CONFIG chose it: the default instance. */
  readonly isDefault: boolean;
}

export function configDirectory(explicit: string | undefined, env: NodeJS.ProcessEnv = process.env): ConfigDirChoice {
  if (explicit) return { dir: resolve(explicit), isDefault: false };
  if (env['MAIL_CONFIG']) return { dir: resolve(env['MAIL_CONFIG']), isDefault: false };
  return { dir: join(posternHome(env), 'etc'), isDefault: true };
}

/**
 * Writes the default instance's configuration if it does not exist yet.
 * Returns true when it did.
 */
export function initDefaultInstance(env: NodeJS.ProcessEnv = process.env): boolean {
  const home = posternHome(env);
  const etc = join(home, 'etc');
  if (existsSync(join(etc, 'main.cf'))) return false;
  const templates = templateDir();
  if (!templates) {
    throw new CommandFatal(`no configuration in ${etc} and no default to install (@postern/mta is not installed): give -c config_dir`);
  }
  mkdirSync(etc, { recursive: true });
  const user = userInfo().username;
  const vars: Record<string, string> = {
    POSTERN_HOME: home,
    USER: user,
    // commands and files from aliases never run as root: nobody stands in (local(8) default_privs)
    PRIVS: user === 'root' ? 'nobody' : user,
    HOSTNAME: hostname().includes('.') ? hostname() : `${hostname()}.localdomain`,
  };
  for (const file of ['main.cf', 'master.cf', 'aliases']) {
    const text = readFileSync(join(templates, file), 'utf8').replace(/@@(\w+)@@/g, (_, k: string) => vars[k] ?? '');
    writeFileSync(join(etc, file), text);
  }
  for (const d of ['spool', 'mail', 'log']) mkdirSync(join(home, d), { recursive: true });
  return true;
}
