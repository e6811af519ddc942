import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { startRig } from './helpers.js';

const swaks = ['/usr/bin/swaks', '/usr/local/bin/swaks'].find((p) => existsSync(p));

test('swaks delivers a message through smtpd', { skip: swaks ? false : 'swaks is not installed' }, async () => {
  const rig = await startRig();
  try {
    const out = await new Promise<string>((resolve, reject) =>
      execFile(
        swaks!,
        ['--server', '127.0.0.1', '--port', String(rig.port), '--from', 'a@client.example', '--to', 'bob@example.com', '--helo', 'swaks.example', '--pipeline'],
        (err, stdout) => (err ? reject(err) : resolve(stdout)),
      ),
    );
    assert.equal(rig.cleanup.submitted.length, 1);
    assert.match(out, new RegExp(`<- {1,2}250 2\\.0\\.0 Ok: queued as ${rig.cleanup.submitted[0]!.queueId}\\b`));
    assert.match(rig.cleanup.submitted[0]!.content, /^Received: from swaks\.example \(unknown \[127\.0\.0\.1\]\)\n/);
  } finally {
    await rig.stop();
  }
});
