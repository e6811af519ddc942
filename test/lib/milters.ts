/**
 * Milters for the tests: the real opendkim (Debian), signing for one domain
 * with a key made by opendkim-genkey in a temporary directory, a DKIM check
 * of a delivered message (python3-dkim, the key given without DNS), and a
 * scripted milter (testkit's milter server) that refuses, holds or edits
 * mail by rule.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMFIF } from '@postern/milter';
import { messageHeader, milterReply as reply, startMilterServer, type MilterRule, type MilterServer } from '@postern/testkit';
import { freePort } from './instance.js';

const PYTHON = '/usr/bin/python3';

export const OPENDKIM_MISSING =
  !existsSync('/usr/sbin/opendkim') || !existsSync('/usr/sbin/opendkim-genkey')
    ? 'needs the Debian packages opendkim and opendkim-tools'
    : spawnSync(PYTHON, ['-c', 'import dkim']).status !== 0
      ? 'needs the Debian package python3-dkim'
      : undefined;

export class Opendkim {
  readonly dir = mkdtempSync(join(tmpdir(), 'postern-opendkim-'));
  port = 0;
  private proc?: ChildProcess;
  private output = '';

  constructor(
    readonly domain: string,
    readonly selector = 'sel',
  ) {}

  async start(): Promise<void> {
    const gen = spawnSync('/usr/sbin/opendkim-genkey', ['-b', '1024', '-d', this.domain, '-s', this.selector, '-D', this.dir], { encoding: 'utf8' });
    if (gen.status !== 0) throw new Error(`opendkim-genkey: ${gen.stderr}`);
    this.port = await freePort();
    const conf = join(this.dir, 'opendkim.conf');
    writeFileSync(
      conf,
      [
        'Syslog no',
        'Background no',
        'Mode s',
        `Socket inet:${this.port}@127.0.0.1`,
        `Domain ${this.domain}`,
        `Selector ${this.selector}`,
        `KeyFile ${join(this.dir, `${this.selector}.private`)}`,
        'Canonicalization relaxed/simple',
        'RequireSafeKeys no',
        'InternalHosts 127.0.0.1',
        `PidFile ${join(this.dir, 'opendkim.pid')}`,
        '',
      ].join('\n'),
    );
    const proc = spawn('/usr/sbin/opendkim', ['-f', '-x', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.proc = proc;
    proc.stdout.on('data', (d: Buffer) => (this.output += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (this.output += d.toString()));
    const deadline = Date.now() + 15_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`opendkim exited ${proc.exitCode}: ${this.output}`);
      const up = await new Promise<boolean>((r) => {
        const s: Socket = connect(this.port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), r(true)));
        s.once('error', () => r(false));
      });
      if (up) return;
      if (Date.now() > deadline) throw new Error(`opendkim did not listen on ${this.port}: ${this.output}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** The selector's TXT record (from sel.txt), as DNS would serve it. */
  get txtRecord(): string {
    const text = readFileSync(join(this.dir, `${this.selector}.txt`), 'utf8');
    return [...text.matchAll(/"([^"]*)"/g)].map((m) => m[1]).join('');
  }

  /** Verifies the message's DKIM-Signature with python3-dkim, the key given without DNS: the script's output. */
  verify(message: string): { ok: boolean; output: string } {
    const script = [
      'import sys, dkim',
      `txt = ${JSON.stringify(this.txtRecord)}.encode()`,
      `name = ${JSON.stringify(`${this.selector}._domainkey.${this.domain}.`)}.encode()`,
      'def dns(q, timeout=5):',
      '    return txt if q.rstrip(b".") == name.rstrip(b".") else None',
      'msg = sys.stdin.buffer.read()',
      'ok = dkim.verify(msg, dnsfunc=dns)',
      'print("verified" if ok else "failed")',
      'sys.exit(0 if ok else 1)',
    ].join('\n');
    const crlf = message.replace(/\r?\n/g, '\r\n');
    const r = spawnSync(PYTHON, ['-c', script], { input: crlf, encoding: 'utf8' });
    return { ok: r.status === 0, output: `${r.stdout}${r.stderr}` };
  }

  get log(): string {
    return this.output;
  }

  stop(): void {
    this.proc?.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A milter (protocol 6) that answers by rule:
 *   MAIL from a sender containing "spammer"  -> SMFIR_REPLYCODE 550 5.7.1 spammer go away
 *   RCPT to "blocked@..."                    -> SMFIR_REJECT
 *   Subject containing "tempfail"            -> SMFIR_TEMPFAIL at the end of the message
 *   Subject containing "hold"                -> SMFIR_QUARANTINE
 *   Subject containing "discard"             -> SMFIR_DISCARD
 *   every other message: adds "X-Test-Milter: seen", changes the Subject: to
 *   "[milter] <old>", adds recipient "added@<domain of first rcpt>", deletes
 *   "dropped@..." recipients, and replaces the body when it is "replace me".
 * Its sessions record what it saw (testkit's milter server).
 */
export function startTestMilter(): Promise<MilterServer> {
  const actions = SMFIF.ADDHDRS | SMFIF.CHGBODY | SMFIF.ADDRCPT | SMFIF.DELRCPT | SMFIF.CHGHDRS | SMFIF.QUARANTINE | SMFIF.CHGFROM;
  const rule: MilterRule = ({ cmd, args }, seen) => {
    if (cmd === 'M' && (args[0] ?? '').includes('spammer')) return reply.replyCode('550 5.7.1 spammer go away');
    if (cmd === 'R' && (args[0] ?? '').startsWith('<blocked@')) return reply.reject();
    if (cmd !== 'E') return undefined;
    const subject = messageHeader(seen, 'subject') ?? '';
    if (subject.includes('tempfail')) return reply.tempfail();
    if (subject.includes('discard')) return reply.discard();
    if (subject.includes('hold')) return [reply.quarantine('held by the test milter'), reply.continue()];
    const first = seen.rcpt.at(-1)?.[0] ?? '<x@example.test>';
    return [
      reply.addHeader('X-Test-Milter', 'seen'),
      reply.changeHeader(1, 'Subject', `[milter] ${subject}`),
      reply.addRcpt(`<added@${first.replace(/^<[^@]*@|>$/g, '')}>`),
      ...seen.rcpt.filter((r) => r[0]!.startsWith('<dropped@')).map((r) => reply.delRcpt(r[0]!)),
      ...(seen.body.replace(/\r\n/g, '\n') === 'replace me\n' ? [reply.replaceBody('the milter replaced this body\r\n')] : []),
      reply.continue(),
    ];
  };
  return startMilterServer({ actions, rule });
}
