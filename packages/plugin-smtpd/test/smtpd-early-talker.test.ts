import { test, mock } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect, type Socket } from 'node:net';
import { PosternConnection, PosternSMTPServer, type CommandSink } from '../src/smtpd-server.js';
import { RawClient, startRig } from './helpers.js';

test('the connection is ready at once: no 100 ms early-talker timer (mocked clock never advances)', async () => {
  const pair = await new Promise<[Socket, Socket]>((resolve) => {
    const srv = createServer((s) => {
      srv.close();
      resolve([s, client]);
    });
    let client: Socket;
    srv.listen(0, '127.0.0.1', () => {
      const a = srv.address();
      client = connect(typeof a === 'object' && a ? a.port : 0, '127.0.0.1');
    });
  });
  mock.timers.enable({ apis: ['setTimeout'] });
  try {
    let started = false;
    const sink: CommandSink = {
      start: async () => {
        started = true;
      },
      command: async () => undefined,
      bareNewline: () => undefined,
      timeout: () => undefined,
      tlsHello: () => undefined,
      secured: () => undefined,
      closed: () => undefined,
    };
    const server = new PosternSMTPServer({ logger: false, disableReverseLookup: true }, { lineLimit: 2048, commandDeadline: 0, contentDeadline: 0, minDataRate: 0 }, () => sink);
    server.connect(pair[0], {});
    // setTimeout is mocked and never ticked: had init() armed smtp-server's
    // 100 ms timer, the session would not have started.
    assert.equal(started, true);
    const conn = [...server.connections][0] as PosternConnection;
    assert.ok(conn instanceof PosternConnection);
  } finally {
    mock.timers.reset();
    pair[0].destroy();
    pair[1].destroy();
  }
});

test('the greeting precedes anything the client sends; an early talker is answered, not refused', async () => {
  const rig = await startRig();
  try {
    const c = await RawClient.open(rig.port);
    c.send('EHLO fast.example\r\n');
    assert.equal(await c.reply(), '220 mx.example.com ESMTP Postern');
    assert.match((await c.reply())!, /^250-mx\.example\.com/);
    await c.cmd('QUIT');
  } finally {
    await rig.stop();
  }
});
