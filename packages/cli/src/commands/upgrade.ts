/**
 * NAME
 *   postern upgrade-configuration - add missing master.cf entries
 *   (postfix upgrade-configuration, Postfix's post-install)
 *
 * SYNOPSIS
 *   postern upgrade-configuration [-c config_dir] [-v]
 *
 * DESCRIPTION
 *   Checks master.cf with post-install's tests, in its order, and appends
 *   each service entry that is missing, with post-install's message
 *   ("Editing DIR/master.cf, adding missing entry for relay service"):
 *   relay, flush, trace, verify, proxymap, anvil, scache, discard, tlsmgr,
 *   retry, proxywrite, postscreen (commented out), smtpd pass (commented
 *   out), dnsblog (commented out), tlsproxy (commented out), postlog; and
 *   post-install's corrections: verify and proxywrite process limit 1, an
 *   unprivileged pickup, public cleanup and flush, a unix (not fifo) tlsmgr.
 *   post-install's main.cf changes (hash_queue_names, compatibility
 *   settings) do not apply to Postern.
 *
 *   An active entry whose command no installed package provides is not added
 *   (master would refuse to start): it is reported with the package to
 *   install. Commented-out entries are added either way. master.cf is replaced
 *   atomically (temporary file, then rename) and keeps its permissions.
 *   Nothing to do: no output, exit 0.
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND_PACKAGES, discoverPlugins, pluginDirsFromMainCf } from '@postern/core';
import { getopt, optValue } from '../getopt.js';
import { configDirectory } from '../instance.js';
import type { CommandIo } from '../io.js';

/** A missing entry post-install appends: the grep that finds it, the entry, the name it reports. */
interface Add {
  readonly test: RegExp;
  readonly entry: string;
  readonly label: string;
}
/** An entry post-install corrects with ed: the first line matching `find` is rewritten. */
interface Fix {
  readonly find: RegExp;
  readonly fix: (line: string) => string;
  readonly message: string;
}

const add = (test: RegExp, entry: string, label: string): Add => ({ test, entry, label });
const fix = (find: RegExp, f: (line: string) => string, message: string): Fix => ({ find, fix: f, message });

/** post-install's master.cf steps, in its order. */
const STEPS: readonly (Add | Fix)[] = [
  add(/^relay/, 'relay	  unix	-	-	n	-	-	smtp', 'relay service'),
  add(/^flush.*flush/, 'flush     unix  -       -       n       1000?   0       flush', 'flush service'),
  add(/trace.*bounce/, 'trace	  unix	-	-	n	-	0	bounce', 'trace service'),
  add(/^verify.*verify/, 'verify	  unix	-	-	n	-	1	verify', 'verify service'),
  fix(/^verify.*[ \t]0[ \t]*verify/, (l) => l.replace(/([ \t])0([ \t])/, '$11$2'), 'setting verify process limit to 1'),
  fix(/^pickup[ \t]*fifo[ \t]*n[ \t]*n/, (l) => l.replace(/(n[ \t]*)n/, '$1-'), 'making the pickup service unprivileged'),
  fix(/^cleanup[ \t]*unix[ \t]*[-y]/, (l) => l.replace(/[-y]/, 'n'), 'making the cleanup service public'),
  fix(/^flush[ \t]*unix[ \t]*[-y]/, (l) => l.replace(/[-y]/, 'n'), 'making the flush service public'),
  add(/^proxymap.*proxymap/, 'proxymap  unix	-	-	n	-	-	proxymap', 'proxymap service'),
  add(/^anvil.*anvil/, 'anvil	  unix	-	-	n	-	1	anvil', 'anvil service'),
  add(/^scache.*scache/, 'scache	  unix	-	-	n	-	1	scache', 'scache service'),
  add(/^discard.*discard/, 'discard	  unix	-	-	n	-	-	discard', 'discard service'),
  fix(/^tlsmgr[ \t]*fifo[ \t]/, (l) => l.replace('fifo', 'unix').replace(/[0-9]+/, '$&?'), 'updating the tlsmgr from fifo to unix service'),
  add(/^tlsmgr.*tlsmgr/, 'tlsmgr    unix  -       -       n       1000?   1       tlsmgr', 'tlsmgr service'),
  add(/^retry.*error/, 'retry     unix  -       -       n       -       -       error', 'retry service'),
  add(/^proxywrite.*proxymap/, 'proxywrite unix -       -       n       -       1       proxymap', 'proxywrite service'),
  fix(/^proxywrite.*-[ \t]*proxymap/, (l) => l.replace(/-([ \t]*proxymap)/, '1$1'), 'setting proxywrite process limit to 1'),
  add(/^#*smtp.*postscreen/, '#smtp      inet  n       -       n       -       1       postscreen', 'postscreen TCP service'),
  add(/^#*smtpd.*smtpd/, '#smtpd     pass  -       -       n       -       -       smtpd', 'smtpd unix-domain service'),
  add(/^#*dnsblog.*dnsblog/, '#dnsblog   unix  -       -       n       -       0       dnsblog', 'dnsblog unix-domain service'),
  add(/^#*tlsproxy.*tlsproxy/, '#tlsproxy  unix  -       -       n       -       0       tlsproxy', 'tlsproxy unix-domain service'),
  add(/^postlog/, 'postlog   unix-dgram n  -       n       -       1       postlogd', 'postlog unix-domain datagram service'),
];

const PROGRAM = 'postfix/post-install';

/** The edits for master.cf `text`: the new text and what was said. */
export function upgradeMasterCf(text: string, file: string, installed: (command: string) => boolean): { text: string; messages: string[]; skipped: string[] } {
  const messages: string[] = [];
  const skipped: string[] = [];
  let lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const has = (re: RegExp) => lines.some((l) => re.test(l));
  const at = (re: RegExp) => lines.findIndex((l) => re.test(l));
  for (const step of STEPS) {
    if ('find' in step) {
      const i = at(step.find);
      if (i >= 0) {
        messages.push(`Editing ${file}, ${step.message}`);
        lines[i] = step.fix(lines[i]!);
      }
      continue;
    }
    if (has(step.test)) continue;
    const command = step.entry.trim().split(/\s+/)[7] as string;
    if (!step.entry.startsWith('#') && !installed(command)) {
      skipped.push(`${step.label}: no installed package provides ${command} (install ${COMMAND_PACKAGES[command] ?? `a package providing "${command}"`})`);
      continue;
    }
    messages.push(`Editing ${file}, adding missing entry for ${step.label}`);
    lines = [...lines, step.entry];
  }
  return { text: lines.length === 0 ? '' : `${lines.join('\n')}\n`, messages, skipped };
}

/** `postern upgrade-configuration`. */
export async function upgradeCommand(argv: string[], io: CommandIo): Promise<number> {
  let explicit: string | undefined;
  try {
    explicit = optValue(getopt(argv, 'c:v'), 'c');
  } catch (err) {
    io.stderr.write(`${PROGRAM}: fatal: ${(err as Error).message}\n`);
    return 1;
  }
  const dir = configDirectory(explicit, io.env).dir;
  const file = join(dir, 'master.cf');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    io.stderr.write(`${PROGRAM}: fatal: open ${file}: No such file or directory\n`);
    return 1;
  }
  const plugins = await discoverPlugins(pluginDirsFromMainCf(dir));
  const result = upgradeMasterCf(text, file, (command) => plugins.commands.has(command));
  for (const m of result.messages) io.stdout.write(`${m}\n`);
  for (const s of result.skipped) io.stderr.write(`${PROGRAM}: warning: not adding the missing entry for the ${s}\n`);
  if (result.text === text) return 0;
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    writeFileSync(tmp, result.text, { mode: statSync(file).mode & 0o7777, flag: 'wx' });
    renameSync(tmp, file);
  } catch (err) {
    try {
      unlinkSync(tmp);
    } catch {
      /* not made */
    }
    io.stderr.write(`${PROGRAM}: fatal: write ${file}: ${(err as Error).message}\n`);
    return 1;
  }
  return 0;
}
