/**
 * smtpd's DNS allow/denylist restrictions end to end: the real master and
 * smtpd, a real DNS server (dnsmasq on a loopback port) serving the lists,
 * swaks as the client from loopback addresses outside mynetworks. Replies
 * are Postfix's default_rbl_reply, or an rbl_reply_maps template.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DNSMASQ, startTestDns, type TestDns } from '@postern/dns';
import { startSystem, type MailSystem } from '../lib/system.js';
import { SWAKS, swaks } from '../lib/swaks.js';

const skip = !DNSMASQ ? 'dnsmasq is not installed (dnsmasq-base)' : !SWAKS ? 'swaks is not installed' : false;

describe('reject_rbl_client, reject_rhsbl_*, permit_dnswl_client in smtpd', { skip }, () => {
  let sys: MailSystem;
  let dns: TestDns;

  before(async () => {
    dns = await startTestDns({
      zones: ['zen.test', 'wl.test', 'dbl.test', 'filt.test'],
      hosts: {
        '2.0.0.127.zen.test': ['127.0.0.2'],
        '3.0.0.127.zen.test': ['127.0.0.2'],
        '3.0.0.127.wl.test': ['127.0.5.1'],
        'spam.example.dbl.test': ['127.0.1.2'],
        'bad.example.dbl.test': ['127.0.1.2'],
        '4.0.0.127.filt.test': ['127.0.0.4'],
        '5.0.0.127.filt.test': ['127.0.0.10'],
      },
      txt: { '2.0.0.127.zen.test': 'Listed by zen.test: see http://zen.test/q?127.0.0.2' },
    });
    sys = await startSystem({
      before: (inst) => {
        const maps = join(inst.configDir, 'rbl_reply');
        writeFileSync(maps, 'filt.test=127.0.0.10 $rbl_code 5.7.9 Go away, $client_address ($rbl_domain)\n');
        return {
          postern_dns_servers: dns.server,
          rbl_reply_maps: `texthash:${maps}`,
          smtpd_recipient_restrictions: [
            'permit_mynetworks',
            'reject_unauth_destination',
            'permit_dnswl_client wl.test',
            'reject_rbl_client zen.test',
            'reject_rbl_client filt.test=127.0.0.10',
            'reject_rhsbl_sender dbl.test',
            'reject_rhsbl_helo dbl.test',
          ].join(', '),
        };
      },
    });
  });
  after(async () => {
    await sys?.inst.dispose();
    await dns?.stop();
  });

  const send = (from: string, ...args: string[]) =>
    swaks(sys.smtpPort, ['--local-interface', from, '--from', 'a@client.example', '--to', 'root@mail.example.test', ...args]);

  test('a listed client: 554 5.7.1 ... blocked using zen.test; with the TXT record as the reason', async () => {
    const r = await send('127.0.0.2');
    assert.match(r.out, /<\*\* +554 5\.7\.1 Service unavailable; Client host \[127\.0\.0\.2\] blocked using zen\.test; Listed by zen\.test: see http:\/\/zen\.test\/q\?127\.0\.0\.2/);
    await sys.inst.waitForLog(
      /NOQUEUE: reject: RCPT from unknown\[127\.0\.0\.2\]: 554 5\.7\.1 Service unavailable; Client host \[127\.0\.0\.2\] blocked using zen\.test; Listed by .*; from=<a@client\.example> to=<root@mail\.example\.test> proto=ESMTP helo=<client\.example>/,
    );
  });

  test('permit_dnswl_client before the denylist: a client on both lists is accepted', async () => {
    const r = await send('127.0.0.3');
    assert.equal(r.code, 0, r.out);
    assert.match(r.out, /250 2\.0\.0 Ok: queued as/);
  });

  test('domain=filter: only a reply the filter accepts rejects; rbl_reply_maps gives the text', async () => {
    assert.equal((await send('127.0.0.4')).code, 0);
    const r = await send('127.0.0.5');
    assert.match(r.out, /<\*\* +554 5\.7\.9 Go away, 127\.0\.0\.5 \(filt\.test\)/);
  });

  test('reject_rhsbl_sender and reject_rhsbl_helo look the domain up', async () => {
    const s = await swaks(sys.smtpPort, ['--local-interface', '127.0.0.6', '--from', 'a@spam.example', '--to', 'root@mail.example.test']);
    assert.match(s.out, /<\*\* +554 5\.7\.1 Service unavailable; Sender address \[a@spam\.example\] blocked using dbl\.test/);
    const h = await swaks(sys.smtpPort, ['--local-interface', '127.0.0.6', '--from', 'a@client.example', '--to', 'root@mail.example.test', '--helo', 'bad.example']);
    assert.match(h.out, /<\*\* +554 5\.7\.1 Service unavailable; Helo command \[bad\.example\] blocked using dbl\.test/);
  });
});
