/**
 * pipe(8) - Postfix delivery to external command
 *
 * SYNOPSIS
 *   master.cf:
 *     maildrop unix - n n - - pipe
 *       flags=DRXhu user=vmail argv=/usr/bin/maildrop -d ${recipient}
 *
 * DESCRIPTION
 *   The pipe delivery agent hands each message to an external command.
 *   The command vector comes from argv= in the master.cf entry; macros
 *   ${sender}, ${recipient}, ${original_recipient}, ${user}, ${extension},
 *   ${mailbox}, ${domain}, ${nexthop}, ${size}, ${queue_id},
 *   ${client_address}, ${client_hostname}, ${client_helo}, ${client_port},
 *   ${client_protocol}, ${sasl_method}, ${sasl_sender} and ${sasl_username}
 *   are expanded in each argument; an argument with a per-recipient macro
 *   becomes one argument per recipient. The command runs directly (execve):
 *   no shell ever parses an argument unless the argv itself names a shell.
 *   All recipients of one request share one command run and its status;
 *   <transport>_destination_recipient_limit = 1 gives one run per recipient.
 *
 *   Attributes: flags=BDFORXhqu.> (see pipe-args.ts), user=name[:group]
 *   (required), size=limit, eol=string (default \n), directory=path
 *   (default $queue_directory), null_sender=text (default MAILER-DAEMON),
 *   argv=command... (required, last).
 *
 *   With the D flag, a recipient already named by a Delivered-To: header
 *   bounces with 5.4.6 "mail forwarding loop for ADDRESS". A message larger
 *   than size= bounces with 5.2.3. Exit status 0 is delivered (status=sent,
 *   "delivered via SERVICE service", action delivered with X, relayed
 *   otherwise); otherwise <sysexits.h>: EX_TEMPFAIL (75) and EX_OSERR (71)
 *   defer, other codes bounce; the command's output (first 2048 bytes) is
 *   the reason, and an enhanced status code at its start takes precedence.
 *
 * PROTOCOL
 *   The DELIVER method of Postern's IPC on queue_directory/private/SERVICE,
 *   served by core's delivery agent skeleton (deliveryAgent()).
 *
 * CONFIGURATION PARAMETERS
 *   <transport>_time_limit ($command_time_limit): the command is killed
 *     (SIGKILL to its process group) and the delivery deferred (4.3.0).
 *   <transport>_destination_recipient_limit, _concurrency_limit (qmgr)
 *   export_environment (TZ MAIL_CONFIG LANG), recipient_delimiter,
 *   mail_owner (postfix), queue_directory,
 *   pipe_delivery_status_filter ($default_delivery_status_filter)
 *
 * SECURITY
 *   The command runs with the uid/gid of user= (group from :group when
 *   given). Like Postfix, pipe refuses to run commands as root or as the
 *   mail_owner account (the request defers with 4.3.5). When this process
 *   is not root it cannot change uid: the command then runs as the current
 *   user (user= is still resolved and checked). The environment holds only
 *   PATH=/usr/bin:/bin and export_environment.
 */
import { existsSync } from 'node:fs';
import { commandStatus, deliveredToHeaders, mailCopy, runCommand } from '@postern/mailbox';
import { deliveryAgent, deliveryTimeLimit, isTraceOnly, TABLES, use, type AgentContext, type ConfigView, type DeliverFunction, type DeliveryRecipient, type DeliveryRequest, type MessageSource, type RecipientResult, type ServiceMain, type TableRegistry } from '@postern/core';
import { parsePipeArgs, PipeConfigError, type PipeAttrs } from './pipe-args.js';
import { expandArgv } from './pipe-expand.js';

export interface PipeDeps {
  readonly config: ConfigView;
  readonly tables: TableRegistry;
  /** The master.cf entry's arguments (ctx.entry.args). */
  readonly args: readonly string[];
}

interface Account {
  readonly uid: number;
  readonly gid: number;
}

async function passwdOf(tables: TableRegistry, name: string): Promise<{ uid: number; gid: number } | undefined> {
  const v = await tables.open('unix:passwd.byname').lookup(name);
  const f = v?.split(':');
  return f && f.length >= 7 ? { uid: Number(f[2]), gid: Number(f[3]) } : undefined;
}

/** Resolves user=name[:group]; refuses root and mail_owner. */
export async function resolveAccount(tables: TableRegistry, attrs: PipeAttrs, mailOwner: string): Promise<Account> {
  const pw = await passwdOf(tables, attrs.user);
  if (!pw) throw new PipeConfigError(`user= command-line attribute specifies unknown user: ${attrs.user}`);
  let gid = pw.gid;
  if (attrs.group !== undefined) {
    const g = await tables.open('unix:group.byname').lookup(attrs.group);
    const f = g?.split(':');
    if (!f || f.length < 3) throw new PipeConfigError(`user= command-line attribute specifies unknown group: ${attrs.group}`);
    gid = Number(f[2]);
  }
  if (pw.uid === 0) throw new PipeConfigError('user= command-line attribute specifies root privileges');
  if (gid === 0) throw new PipeConfigError('user= command-line attribute specifies privileged group id 0');
  const owner = mailOwner ? await passwdOf(tables, mailOwner) : undefined;
  if (owner && owner.uid === pw.uid) throw new PipeConfigError('user= command-line attribute specifies mail system owner');
  return { uid: pw.uid, gid };
}

/** pipe(8)'s delivery function (plug into core's deliveryAgent). */
export function createPipeDeliver(deps: PipeDeps): DeliverFunction {
  let attrs: PipeAttrs | undefined;
  let attrsError: string | undefined;
  try {
    attrs = parsePipeArgs(deps.args);
  } catch (err) {
    attrsError = (err as Error).message;
  }
  return async (request: DeliveryRequest, message: MessageSource, agent: AgentContext) => {
    const result = (
      rcpt: DeliveryRecipient,
      status: RecipientResult['status'],
      dsn: string,
      reason: string,
      action?: RecipientResult['action'],
    ): RecipientResult => ({ index: rcpt.index, status, dsn, reason, relay: agent.service, ...(action && { action }) });
    const clean = (r: RecipientResult) => r;
    if (!attrs) return request.recipients.map((r) => clean(result(r, 'deferred', '4.3.5', `mail system configuration error: ${attrsError}`)));
    let account: Account;
    try {
      account = await resolveAccount(deps.tables, attrs, deps.config.get('mail_owner'));
    } catch (err) {
      return request.recipients.map((r) => clean(result(r, 'deferred', '4.3.5', `mail system configuration error: ${(err as Error).message}`)));
    }
    if (attrs.size !== undefined && request.size > attrs.size) {
      return request.recipients.map((r) => clean(result(r, 'bounced', '5.2.3', 'message too large')));
    }
    const content = await message.buffer();
    const out: RecipientResult[] = [];
    let rcpts = request.recipients;
    if (attrs.flags.delivered) {
      const seen = new Set(deliveredToHeaders(content).map((v) => v.replace(/^<|>$/g, '').toLowerCase()));
      const looping = rcpts.filter((r) => seen.has(r.address.toLowerCase()));
      for (const r of looping) out.push(clean(result(r, 'bounced', '5.4.6', `mail forwarding loop for ${r.address}`)));
      rcpts = rcpts.filter((r) => !looping.includes(r));
    }
    if (rcpts.length === 0) return out;
    let argv: string[];
    try {
      argv = expandArgv(attrs, request, rcpts, deps.config.get('recipient_delimiter'));
    } catch (err) {
      return [...out, ...rcpts.map((r) => clean(result(r, 'deferred', '4.3.5', `mail system configuration error: ${(err as Error).message}`)))];
    }
    // sendmail -bv and verify(8) probes: say what would happen (DEL_REQ_TRACE_ONLY)
    if (isTraceOnly(request)) return [...out, ...rcpts.map((r) => clean(result(r, 'sent', '2.0.0', `delivers to command: ${argv[0]}`)))];
    const f = attrs.flags;
    const first = rcpts[0]!;
    const queueDir = deps.config.get('queue_directory');
    const env: Record<string, string> = { PATH: '/usr/bin:/bin' };
    for (const name of deps.config.list('export_environment')) {
      const eq = name.indexOf('=');
      if (eq > 0) env[name.slice(0, eq)] = name.slice(eq + 1);
      else if (process.env[name] !== undefined) env[name] = process.env[name]!;
    }
    const outcome = await runCommand({
      argv,
      uid: account.uid,
      gid: account.gid,
      env,
      cwd: attrs.directory ?? (existsSync(queueDir) ? queueDir : '/'),
      timeLimit: deliveryTimeLimit(deps.config, agent.service),
      input: mailCopy([content], {
        ...(f.from && { from: request.sender }),
        ...(f.returnPath && { returnPath: request.sender }),
        ...(f.originalTo && { originalRecipient: first.original ?? first.address }),
        ...(f.delivered && { deliveredTo: first.address }),
        quoteFrom: f.quoteFrom,
        dotQuote: f.dot,
        blank: f.blank,
        eol: attrs.eol,
        nullSender: attrs.nullSender,
      }),
      signal: agent.signal,
    });
    const status = commandStatus(outcome, argv[0]!, `delivered via ${agent.service} service`);
    const action = status.status === 'sent' ? (f.final ? 'delivered' : 'relayed') : undefined;
    for (const r of rcpts) out.push(clean(result(r, status.status, status.dsn, status.reason, action)));
    return out;
  };
}

export const main: ServiceMain = async (ctx) =>
  deliveryAgent(ctx, createPipeDeliver({ config: ctx.config, tables: use(ctx.container, TABLES), args: ctx.entry.args }), {
    statusFilter: 'pipe_delivery_status_filter',
  });
