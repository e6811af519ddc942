/**
 * deliver_command(): "|command" destinations from aliases, .forward and
 * :include: files, and mailbox_command / mailbox_command_maps.
 *
 * allow_mail_to_commands (alias, forward, include) decides which
 * expansions may name commands; others bounce with 5.7.1 "mail to command
 * is restricted". The command line runs through local_command_shell when
 * set, else directly or through /bin/sh -c when it has shell meta
 * characters (it is a shell command line by specification). Addresses
 * never appear on that command line: they reach the command only through
 * the environment local(8) documents -- USER, LOGNAME, SENDER, RECIPIENT,
 * LOCAL always; HOME and SHELL when the privileges are an account's (not
 * for a root-owned alias, which runs as default_privs without either);
 * DOMAIN, EXTENSION (only when the address has one), ORIGINAL_RECIPIENT
 * and ENVID when not empty; CLIENT_* and SASL_* when known -- with every
 * value passed through command_expansion_filter (other characters become
 * "_"), PATH reset to /usr/bin:/bin and export_environment copied.
 * The message is fed with a From_ line, Return-Path:, X-Original-To: and
 * (prepend_delivered_header "command") Delivered-To:, no trailing blank
 * line. The command runs with the destination's privileges (root becomes
 * default_privs) when this process is root, otherwise as the current user.
 * command_time_limit kills it (SIGKILL to its process group) and defers.
 */
import { existsSync } from 'node:fs';
import { commandStatus, runCommand, type MailCopyOptions, mailCopy } from '@postern/mailbox';
import { isTraceOnly } from '@postern/core';
import { applyFilter } from './local-expand.js';
import { defaultPrivs, unprivileged } from './local-passwd.js';
import { recipientParts } from './local-recipient.js';
import type { DeliverAttr, LeafResult, LocalRequest, Privileges } from './local-state.js';

export function commandEnvironment(req: LocalRequest, attr: DeliverAttr, privs: Privileges, user: string): Record<string, string> {
  const f = (v: string | undefined) => applyFilter(v ?? '', req.settings.commandExpansionFilter);
  const parts = recipientParts(attr.recipient, req);
  const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
  for (const name of req.settings.exportEnvironment) {
    const [key, value] = name.includes('=') ? [name.slice(0, name.indexOf('=')), name.slice(name.indexOf('=') + 1)] : [name, process.env[name]];
    if (value !== undefined) env[key!] = value;
  }
  const client = req.request.client;
  const sasl = req.request.sasl;
  Object.assign(env, {
    USER: f(user),
    LOGNAME: f(user),
    SENDER: f(attr.sender),
    RECIPIENT: f(attr.recipient),
    LOCAL: f(parts.local),
  });
  if (privs.home !== undefined) env.HOME = f(privs.home);
  if (privs.shell !== undefined) env.SHELL = f(privs.shell);
  if (parts.delimiter !== '') env.EXTENSION = f(parts.extension);
  const optional: Record<string, string | undefined> = {
    DOMAIN: parts.domain,
    ORIGINAL_RECIPIENT: attr.original,
    ENVID: req.request.dsnEnvid,
    CLIENT_ADDRESS: client?.address,
    CLIENT_HELO: client?.helo,
    CLIENT_HOSTNAME: client?.name,
    CLIENT_PROTOCOL: client?.protocol,
    SASL_METHOD: sasl?.method,
    SASL_SENDER: sasl?.sender,
    SASL_USERNAME: sasl?.username,
  };
  for (const [k, v] of Object.entries(optional)) if (v !== undefined && v !== '') env[k] = f(v);
  return env;
}

export function commandCopyOptions(req: LocalRequest, attr: DeliverAttr): MailCopyOptions {
  return {
    from: attr.sender,
    returnPath: attr.sender,
    ...(req.settings.enableOriginalRecipient && { originalRecipient: attr.original }),
    ...(req.settings.prependDeliveredHeader.includes('command') && { deliveredTo: attr.delivered }),
  };
}

function workingDirectory(req: LocalRequest, dir: string): string {
  if (dir !== '') return dir;
  return existsSync(req.settings.queueDirectory) ? req.settings.queueDirectory : '/';
}

/** Runs `command` for `attr` with `privs` and returns the delivery status. */
export async function runLocalCommand(
  req: LocalRequest,
  attr: DeliverAttr,
  command: string,
  privs: Privileges,
  user: string,
  cwd = '',
): Promise<LeafResult> {
  const outcome = await runCommand({
    command,
    shell: req.settings.localCommandShell || undefined,
    uid: privs.uid,
    gid: privs.gid,
    env: commandEnvironment(req, attr, privs, user),
    cwd: workingDirectory(req, cwd),
    timeLimit: req.settings.commandTimeLimit,
    input: mailCopy([req.content], commandCopyOptions(req, attr)),
    signal: req.signal,
  });
  const r = commandStatus(outcome, command, `delivered to command: ${command}`);
  return { ...r, address: attr.recipient };
}

export async function deliverCommandToken(req: LocalRequest, attr: DeliverAttr, command: string): Promise<LeafResult> {
  if (!attr.expType || !req.settings.allowMailToCommands.includes(attr.expType)) {
    return { status: 'bounced', dsn: '5.7.1', reason: 'mail to command is restricted', address: attr.recipient };
  }
  if (isTraceOnly(req.request)) return { status: 'sent', dsn: '2.0.0', reason: `delivers to command: ${command}`, address: attr.recipient };
  let privs: Privileges;
  try {
    privs = await unprivileged(req.tables, attr.privs ?? (await defaultPrivs(req.tables, req.settings.defaultPrivs)), req.settings.defaultPrivs);
  } catch (err) {
    return { status: 'deferred', dsn: '4.3.5', reason: (err as Error).message, address: attr.recipient };
  }
  if (req.dup.check(`command ${privs.uid} ${command}`)) return { status: 'sent', dsn: '2.0.0', reason: `delivered to command: ${command}`, address: attr.recipient };
  const user = recipientParts(attr.recipient, req).user;
  return runLocalCommand(req, attr, command, privs, user);
}
