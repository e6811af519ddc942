/**
 * postlogd(8) over its real socket: records sent on public/postlog land in
 * maillog_file as Postfix-shaped lines, over-long records are cut at
 * line_length_limit with a warning, and the record splitter's edge cases.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createConnection } from 'node:net';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  createConfigView,
  flushLogs,
  MemoryLogger,
  ParameterRegistry,
  parseMainCf,
  startServiceInProcess,
  type InProcessService,
  type MasterEntry,
} from '@postern/core';
import { main } from '../src/postlogd.js';
import { postlogLine, RecordSplitter } from '../src/postlogd-record.js';
import { PARAMETERS } from '../src/postlogd-params.js';

const entry: MasterEntry = {
  name: 'postlog', type: 'unix-dgram', private: false, unprivileged: true, chroot: false, wakeup: 0, wakeupIfUsed: false,
  maxproc: 1, command: 'postlogd', args: [], overrides: {}, flags: [], file: 'master.cf', line: 1,
};

/** A Postfix log line: time, host, program[pid] or program, text. */
const SHAPE = /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d (\S+) ([^\s:]+?)(?:\[(\d+)\])?: (.*)$/;

describe('postlogd service', () => {
  let dir: string;
  let socketPath: string;
  let maillog: string;
  let svc: InProcessService;
  const log = new MemoryLogger();

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'postern-postlogd-'));
    const queueDir = join(dir, 'spool');
    mkdirSync(join(queueDir, 'public'), { recursive: true });
    maillog = join(dir, 'maillog');
    socketPath = join(queueDir, 'public', 'postlog');
    const registry = ParameterRegistry.withCore();
    registry.declare('@postern/plugin-postlogd', PARAMETERS);
    const config = createConfigView({
      registry,
      configDirectory: dir,
      mainCf: parseMainCf(`queue_directory = ${queueDir}\nmaillog_file = ${maillog}\nline_length_limit = 80\nmyhostname = mx.example.com\nsyslog_name = postern\n`),
    });
    svc = await startServiceInProcess(main, { entry, config, log, listen: { path: socketPath } });
  });

  after(async () => {
    await svc.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const send = (chunks: string[]) =>
    new Promise<void>((resolve, reject) => {
      const s = createConnection(socketPath, () => {
        for (const c of chunks) s.write(c);
        s.end();
      });
      s.on('error', reject);
      s.on('close', () => resolve());
      s.resume();
    });

  /** The maillog's lines once it holds `n` (bounded wait, then whatever is there). */
  const linesOf = async (n: number) => {
    for (let i = 0; i < 200; i++) {
      await flushLogs();
      const lines = existsSync(maillog) ? readFileSync(maillog, 'utf8').split('\n').filter(Boolean) : [];
      if (lines.length >= n) return lines;
      await new Promise((r) => setTimeout(r, 10));
    }
    return existsSync(maillog) ? readFileSync(maillog, 'utf8').split('\n').filter(Boolean) : [];
  };

  test('records land in maillog_file as one Postfix-shaped line each', async () => {
    const long = 'x'.repeat(100);
    await send([
      'Nov 21 07:00:00 mx postern/smtpd[42]: connect from localhost[127.0.0.1]\n',
      'postern/pickup[7]: 4ABC: uid=0 from=<root>\r\n',
      'backup finished',
      '\n\n',
      `script[9]: ${long}\n`,
      'tail without newline',
    ]);
    const lines = await linesOf(5);
    assert.equal(lines.length, 5, lines.join('\n'));
    for (const line of lines) assert.match(line, SHAPE);
    assert.equal(lines[0], 'Nov 21 07:00:00 mx postern/smtpd[42]: connect from localhost[127.0.0.1]');
    const fields = lines.map((l) => SHAPE.exec(l)!.slice(1));
    assert.deepEqual(fields[1], ['mx', 'postern/pickup', '7', '4ABC: uid=0 from=<root>']);
    assert.deepEqual(fields[2], ['mx', 'postern/postlog', undefined, 'backup finished']);
    // cut at line_length_limit (80 bytes of record)
    assert.equal(Buffer.byteLength(`script[9]: ${fields[3]![3]}`), 80);
    assert.deepEqual(fields[4], ['mx', 'postern/postlog', undefined, 'tail without newline']);
    assert.deepEqual(
      log.lines.filter((l) => l.startsWith('warning:')),
      ['warning: record too long: 111 bytes; truncated to line_length_limit=80'],
    );
  });

  test('records from concurrent connections stay whole', async () => {
    const before = (await linesOf(0)).length;
    await Promise.all(
      [1, 2, 3].map((k) => send(Array.from({ length: 5 }, (_, i) => `job${k}[${k}]: record ${i}\n`))),
    );
    const lines = (await linesOf(before + 15)).slice(before);
    assert.equal(lines.length, 15);
    for (const line of lines) assert.match(line, /^[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d mx job(\d)\[\1\]: record \d$/);
  });
});

describe('postlogd records', () => {
  test('postlogLine shapes each kind of record', () => {
    const now = new Date(2026, 10, 1, 7, 5, 9);
    const cases: [string, string][] = [
      ['Nov  1 07:00:00 h postfix/smtpd[1]: x', 'Nov  1 07:00:00 h postfix/smtpd[1]: x\n'],
      ['prog[12]: hello', 'Nov  1 07:05:09 mx prog[12]: hello\n'],
      ['prog: hello', 'Nov  1 07:05:09 mx prog: hello\n'],
      ['just text: with colon later', 'Nov  1 07:05:09 mx postfix/postlog: just text: with colon later\n'],
      ['a\x00b\x1bc', 'Nov  1 07:05:09 mx postfix/postlog: a b c\n'],
    ];
    for (const [record, line] of cases) assert.equal(postlogLine(record, 'mx', 'postfix/postlog', now), line, record);
  });

  test('the splitter cuts long records and keeps records split across chunks', () => {
    const s = new RecordSplitter(5);
    assert.deepEqual(s.push(Buffer.from('ab')), []);
    assert.deepEqual(s.push(Buffer.from('c\nabcdefgh')), [{ text: 'abc' }]);
    assert.deepEqual(s.push(Buffer.from('ij\r\n12345\n')), [{ text: 'abcde', cutFrom: 11 }, { text: '12345' }]);
    assert.deepEqual(s.end(), []);
    assert.deepEqual(s.push(Buffer.from('end')), []);
    assert.deepEqual(s.end(), [{ text: 'end' }]);
  });
});
