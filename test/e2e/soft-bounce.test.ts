/**
 * soft_bounce (postconf(5)): hard failures become soft ones everywhere, also
 * where no delivery agent is involved. Mail submitted with sendmail that
 * cleanup refuses for good (header_checks REJECT) stays in maildrop and is
 * tried again, instead of leaving the queue.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Instance } from '../lib/instance.js';

const require = createRequire(import.meta.url);
const SENDMAIL = join(dirname(require.resolve('@postern/cli/package.json')), 'bin', 'sendmail.js');

test('soft_bounce: a message cleanup rejects stays in maildrop and is tried again', { timeout: 60_000 }, async () => {
  const inst = new Instance({
    main: {},
    master: ['pickup unix n - n 60 1 pickup', 'cleanup unix n - n - 0 cleanup', 'rewrite unix - - n - - trivial-rewrite', ''].join('\n'),
  });
  try {
    const checks = join(inst.configDir, 'header_checks');
    writeFileSync(checks, '/^Subject: .*forbidden/ REJECT not this subject\n');
    inst.writeMain({ soft_bounce: 'yes', default_transport: 'discard', myorigin: '$myhostname', header_checks: `regexp:${checks}` });
    const check = await inst.postern(['check']);
    assert.equal(check.code, 0, check.stderr);
    const sent = spawnSync(process.execPath, [SENDMAIL, '-f', 'sender@example.test', 'someone@example.test'], {
      input: 'Subject: a forbidden subject\n\nhello\n',
      env: { ...process.env, MAIL_CONFIG: inst.configDir },
      encoding: 'utf8',
    });
    assert.equal(sent.status, 0, sent.stderr);
    await inst.start();
    const first = await inst.waitForLog(/pickup\[\d+\]: warning: (\w+): uid=\d+ from=<sender@example\.test>: rejected by cleanup: 550 5\.7\.1 not this subject; soft_bounce: will retry/);
    assert.doesNotMatch(inst.log, /moved to the corrupt queue/);
    // still in maildrop: the next scan finds it again
    const kick = await inst.postern(['kick', 'public', 'pickup', 'W']);
    assert.equal(kick.code, 0, kick.stderr);
    const again = new RegExp(`${first[1]}: uid=\\d+ from=<sender@example\\.test>: rejected by cleanup: .*soft_bounce: will retry[\\s\\S]*${first[1]}: uid=\\d+ from=<sender@example\\.test>: rejected by cleanup: .*soft_bounce: will retry`);
    await inst.waitForLog(again);
    assert.doesNotMatch(inst.log, /moved to the corrupt queue/);
  } finally {
    await inst.dispose();
  }
});
