// What smtpd gives plugin restrictions: the configuration view (with the
// service's -o overrides), a logger naming the plugin, the declared parameters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import type { SmtpdCheckState, SmtpdPluginContext } from '@postern/core';
import { plugin } from '../src/index.js';
import { BUILTIN_CLASSES } from '../src/smtpd-check.js';
import { SERVER_ACCESS_RESTRICTIONS } from '../src/smtpd-server-access.js';
import { RawClient, startRig } from './helpers.js';

test('a plugin restriction reads its declared parameters, the configuration and logs under its name', async () => {
  const seen: SmtpdPluginContext[] = [];
  const rig = await startRig(
    { postern_smtpd_plugins: 'acme-limits', smtpd_recipient_restrictions: 'acme_deny_listed', acme_denied: 'no@example.com, $acme_extra', acme_extra: 'nope@example.com' },
    {
      overrides: { acme_extra: 'override@example.com' },
      smtpd: {
        importer: async () => ({
          plugin: { name: 'acme-limits', parameters: [{ name: 'acme_denied', default: '' }] },
          default: {
            name: 'acme',
            restrictions: {
              acme_deny_listed: (s: SmtpdCheckState, ctx: SmtpdPluginContext) => {
                seen.push(ctx);
                const denied = ctx.parameters['acme_denied']!.split(/[\s,]+/);
                if (!denied.includes(s.recipient ?? '')) return { action: 'dunno' };
                ctx.log.info(`denied ${s.recipient} (myhostname ${ctx.config.get('myhostname')})`);
                return { action: 'reject', code: 550, dsn: '5.7.1', text: 'listed' };
              },
            },
          },
        }),
      },
    },
  );
  try {
    const c = await RawClient.open(rig.port);
    await c.reply();
    await c.cmd('EHLO client.example');
    await c.cmd('MAIL FROM:<a@client.example>');
    assert.equal(await c.cmd('RCPT TO:<override@example.com>'), '550 5.7.1 <override@example.com>: Recipient address rejected: listed');
    assert.equal(await c.cmd('RCPT TO:<nope@example.com>'), '250 2.1.5 Ok');
    await c.cmd('QUIT');
    assert.deepEqual(Object.keys(seen[0]!.parameters), ['acme_denied']);
    assert.equal(seen[0]!.parameters['acme_denied'], 'no@example.com, override@example.com');
    assert.ok(rig.log.lines.some((l) => /^acme: denied override@example\.com \(myhostname \S+\)$/.test(l)), rig.log.lines.join('\n'));
  } finally {
    await rig.stop();
  }
});

test('the declared restriction names are the ones smtpd-check.ts serves', () => {
  const source = readFileSync(new URL('../../src/smtpd-check.ts', import.meta.url), 'utf8');
  const start = source.indexOf('private async restriction(name');
  const end = source.indexOf('private async recipientRestriction(', start);
  assert.ok(start > 0 && end > start, 'smtpd-check.ts has the restriction switch');
  const cases = [...source.slice(start, end).matchAll(/case '([a-z_0-9]+)'/g)].map((m) => m[1]!);
  const served = [...new Set([...cases, ...SERVER_ACCESS_RESTRICTIONS, ...Object.keys(BUILTIN_CLASSES)])].sort();
  assert.deepEqual([...plugin.restrictions!].sort(), served, 'add new restriction names to src/smtpd-restriction-names.ts');
});
