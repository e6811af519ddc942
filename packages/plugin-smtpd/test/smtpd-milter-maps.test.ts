/**
 * smtpd_milter_maps (Postfix 3.2): a cidr table keyed by the client address
 * overrides smtpd_milters (another milter list, or DISABLE for none);
 * milter_macro_defaults (Postfix 3.1) fills macros the session has no value
 * for. Milters: two recording ones on loopback that speak the milter
 * protocol (negotiate, record the connect events and the macros, continue).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { RawClient, startRig } from './helpers.js';

/** A milter that records connect events (the client address) and the macros of each stage. */
class RecordingMilter {
  readonly connects: string[] = [];
  readonly macros: Map<string, string>[] = [];
  port = 0;
  readonly server: Server;
  constructor() {
    this.server = createServer((sock) => {
      sock.on('error', () => undefined);
      let buf = Buffer.alloc(0);
      const send = (cmd: string, data = Buffer.alloc(0)) => {
        const head = Buffer.alloc(5);
        head.writeUInt32BE(data.length + 1, 0);
        head.write(cmd, 4, 'latin1');
        sock.write(Buffer.concat([head, data]));
      };
      sock.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 4 && buf.length >= 4 + buf.readUInt32BE(0)) {
          const len = buf.readUInt32BE(0);
          const cmd = String.fromCharCode(buf[4]!);
          const body = buf.subarray(5, 4 + len);
          buf = buf.subarray(4 + len);
          if (cmd === 'O') {
            const r = Buffer.alloc(12);
            r.writeUInt32BE(6, 0);
            send('O', r);
          } else if (cmd === 'D') {
            const parts = body.subarray(1).toString('latin1').split('\0');
            const m = new Map<string, string>([['stage', String.fromCharCode(body[0]!)]]);
            for (let i = 0; i + 1 < parts.length; i += 2) m.set(parts[i]!, parts[i + 1]!);
            this.macros.push(m);
          } else if (cmd === 'C') {
            // hostname\0, family, port (2 bytes), address\0
            const host = body.indexOf(0);
            this.connects.push(body.subarray(host + 4, body.indexOf(0, host + 4)).toString('latin1'));
            send('c');
          } else if (cmd !== 'A' && cmd !== 'Q') send('c');
        }
      });
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as { port: number }).port;
  }
}

let dir: string;
const m1 = new RecordingMilter();
const m2 = new RecordingMilter();
before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'postern-milter-maps-'));
  await m1.listen();
  await m2.listen();
});
after(() => {
  m1.server.close();
  m2.server.close();
  rmSync(dir, { recursive: true, force: true });
});

test('smtpd_milter_maps: DISABLE for one client, another milter list for another, smtpd_milters for the rest; milter_macro_defaults', async () => {
  const map = join(dir, 'smtpd_milter_map');
  writeFileSync(map, `127.0.0.2/32 DISABLE\n127.0.0.3/32 { inet:127.0.0.1:${m2.port}, default_action=accept }\n`);
  const rig = await startRig({
    smtpd_milters: `inet:127.0.0.1:${m1.port}`,
    smtpd_milter_maps: `cidr:${map}`,
    milter_macro_defaults: '{ auth_type = none }, {mail_host=relay, default.example}, mail_mailer=esmtp',
    milter_mail_macros: '{auth_type} {mail_addr} {mail_host} {mail_mailer}',
  });
  const talk = async (from: string) => {
    const c = await RawClient.open(rig.port, from);
    assert.match((await c.reply())!, /^220 /);
    assert.match((await c.cmd('EHLO client.example'))!, /^250[- ]/);
    assert.equal(await c.cmd('MAIL FROM:<a@client.example>'), '250 2.1.0 Ok');
    assert.equal(await c.cmd('QUIT'), '221 2.0.0 Bye');
    await c.waitClose();
  };
  try {
    await talk('127.0.0.1');
    assert.deepEqual(m1.connects, ['127.0.0.1']);
    const mail = m1.macros.find((m) => m.get('stage') === 'M')!;
    assert.equal(mail.get('{auth_type}'), 'none', 'a default where the session has no value');
    assert.equal(mail.get('{mail_host}'), 'relay, default.example');
    assert.equal(mail.get('{mail_addr}'), 'a@client.example', 'the session value wins');
    assert.equal(mail.get('{mail_mailer}'), 'esmtp', 'a default named without braces');

    await talk('127.0.0.2');
    assert.deepEqual(m1.connects, ['127.0.0.1']);
    assert.deepEqual(m2.connects, []);

    await talk('127.0.0.3');
    assert.deepEqual(m1.connects, ['127.0.0.1']);
    assert.deepEqual(m2.connects, ['127.0.0.3']);
  } finally {
    await rig.stop();
  }
});

test('a bad milter_macro_defaults pair: 421 4.3.5 and a warning', async () => {
  const rig = await startRig({ smtpd_milters: `inet:127.0.0.1:${m1.port}`, milter_macro_defaults: 'novalue' });
  try {
    const c = await RawClient.open(rig.port);
    assert.equal(await c.reply(), '421 4.3.5 mx.example.com Server configuration problem - try again later');
    await c.waitClose();
    assert.ok(rig.log.lines.some((l) => /^warning: smtpd_milters: milter_macro_defaults: missing "=" in "novalue"$/.test(l)), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});
