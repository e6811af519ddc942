/**
 * scache(8) through the real master: an smtp process parks its session to a
 * destination, another smtp process (the relay service) delivers the next
 * message to the same destination and gets that session handed over (scache
 * names it, master carries the socket), so the server sees one connection
 * for both messages, as with Postfix's connection cache.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import nodemailer from 'nodemailer';
import { startNodeSink, type Sink } from '../bench/sink.js';
import { freePort } from '../lib/instance.js';
import { startSystem, type MailSystem } from '../lib/system.js';

function send(sys: MailSystem, to: string, subject: string): Promise<string> {
  const t = nodemailer.createTransport({ host: '127.0.0.1', port: sys.smtpPort, ignoreTLS: true });
  return t.sendMail({ envelope: { from: 'someone@example.org', to: [to] }, raw: `Subject: ${subject}\n\nbody\n` }).then((i) => i.response.split(' ').pop()!);
}

describe('scache: a parked connection moves between smtp processes', () => {
  let sys: MailSystem;
  let sink: Sink;

  before(async () => {
    const port = await freePort();
    sink = await startNodeSink(port);
    sys = await startSystem({
      main: {
        relay_domains: 'a.example, b.example',
        // two master.cf services running the smtp command: two processes
        transport_maps: `inline:{ a.example=smtp:[127.0.0.1]:${port}, b.example=relay:[127.0.0.1]:${port} }`,
        smtp_connection_cache_time_limit: '20s',
      },
      extraMaster: 'scache    unix - - n - 1   scache\n',
    });
  });

  after(async () => {
    await sys.inst.dispose();
    await sink.close();
  });

  test('the relay process delivers over the session the smtp process parked', async () => {
    const first = await send(sys, 'user@a.example', 'first');
    const sent1 = await sys.inst.waitForLog(new RegExp(`smtp\\[(\\d+)\\]: ${first}: to=<user@a\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:\\d+, .*status=sent`));
    const second = await send(sys, 'user@b.example', 'second');
    const sent2 = await sys.inst.waitForLog(new RegExp(`\\[(\\d+)\\]: ${second}: to=<user@b\\.example>, relay=127\\.0\\.0\\.1\\[127\\.0\\.0\\.1\\]:\\d+, conn_use=2, .*status=sent`));
    const pid = (line: string) => /\[(\d+)\]: /.exec(line)?.[1];
    assert.notEqual(pid(sent2[0]), pid(sent1[0]), 'two smtp processes');
    assert.equal(sink.count(), 2);
    assert.equal(sink.connections(), 1, 'one connection carried both messages');
  });
});
