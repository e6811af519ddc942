/**
 * anvil(8) event limits in smtpd(8), end to end: the real master with smtpd
 * and anvil, swaks as the client from loopback addresses outside mynetworks
 * (127.0.0.1 is in mynetworks, so smtpd_client_event_limit_exceptions
 * exempts it). Each limit is exceeded once and answers Postfix's reply and
 * warning.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';
import { startSystem, type MailSystem } from '../lib/system.js';
import { SWAKS, swaks } from '../lib/swaks.js';

describe('anvil rate limits in smtpd', { skip: SWAKS ? false : 'swaks is not installed' }, () => {
  let sys: MailSystem;
  let service: string;

  before(async () => {
    sys = await startSystem({
      before: (inst) => {
        const cert = join(inst.configDir, 'cert.pem');
        const key = join(inst.configDir, 'key.pem');
        execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=mail.example.test'], { stdio: 'ignore' });
        // smtpd reads it as mail_owner
        chmodSync(key, 0o644);
        return {
          smtpd_client_message_rate_limit: '2',
          smtpd_client_recipient_rate_limit: '3',
          smtpd_client_new_tls_session_rate_limit: '1',
          smtpd_client_auth_rate_limit: '1',
          smtpd_tls_security_level: 'may',
          smtpd_tls_cert_file: cert,
          smtpd_tls_key_file: key,
          smtpd_sasl_auth_enable: 'yes',
          smtpd_sasl_type: 'postern-table',
          postern_sasl_password_maps: 'inline:{ alice=wonderland }',
        };
      },
    });
    service = `127.0.0.1:${sys.smtpPort}`;
  });
  after(async () => {
    await sys.inst.dispose();
  });

  const send = (from: string, ...args: string[]) =>
    swaks(sys.smtpPort, ['--local-interface', from, '--from', 'a@client.example', '--to', 'root@mail.example.test', ...args]);

  test('smtpd_client_message_rate_limit: the third MAIL FROM gets 450 4.7.1 Error: too much mail', async () => {
    assert.equal((await send('127.0.0.2')).code, 0);
    assert.equal((await send('127.0.0.2')).code, 0);
    const third = await send('127.0.0.2');
    assert.notEqual(third.code, 0);
    assert.match(third.out, /<\*\* +450 4\.7\.1 Error: too much mail from 127\.0\.0\.2/);
    await sys.inst.waitForLog(new RegExp(`warning: Message delivery request rate limit exceeded: 3 from unknown\\[127\\.0\\.0\\.2\\] for service ${service.replace(/\./g, '\\.')}`));
  });

  test('smtpd_client_event_limit_exceptions ($mynetworks): 127.0.0.1 is never limited', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await send('127.0.0.1')).code, 0);
  });

  test('smtpd_client_recipient_rate_limit: the fourth RCPT TO gets 450 4.7.1 Error: too many recipients', async () => {
    const r = await swaks(sys.smtpPort, ['--local-interface', '127.0.0.3', '--from', 'a@client.example', '--to', 'root@mail.example.test,postmaster@mail.example.test,root@localhost,postmaster@localhost']);
    assert.match(r.out, /<\*\* +450 4\.7\.1 Error: too many recipients from 127\.0\.0\.3/);
    await sys.inst.waitForLog(/warning: Recipient address rate limit exceeded: 4 from unknown\[127\.0\.0\.3\] for service /);
  });

  test('smtpd_client_new_tls_session_rate_limit: 421 after the second handshake, 454 to the third STARTTLS', async () => {
    assert.equal((await send('127.0.0.4', '--tls')).code, 0);
    const second = await send('127.0.0.4', '--tls');
    assert.notEqual(second.code, 0);
    await sys.inst.waitForLog(/warning: New TLS session rate limit exceeded: 2 from unknown\[127\.0\.0\.4\] for service /);
    const third = await send('127.0.0.4', '--tls');
    assert.match(third.out, /<\*\* +454 4\.7\.0 Error: too many new TLS sessions from unknown\[127\.0\.0\.4\]/);
    await sys.inst.waitForLog(/warning: Refusing STARTTLS request from unknown\[127\.0\.0\.4\] for service /);
  });

  test('smtpd_client_auth_rate_limit: the second AUTH gets 450 4.7.1 Error: too many AUTH commands', async () => {
    const auth = ['--auth', 'PLAIN', '--auth-user', 'alice', '--auth-password', 'wonderland'];
    assert.equal((await send('127.0.0.5', ...auth)).code, 0);
    const second = await send('127.0.0.5', ...auth);
    assert.match(second.out, /<\*\* +450 4\.7\.1 Error: too many AUTH commands from 127\.0\.0\.5/);
    await sys.inst.waitForLog(/warning: AUTH command rate limit exceeded: 2 from unknown\[127\.0\.0\.5\] for service /);
  });
});
