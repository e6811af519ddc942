import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { openQueueStore } from '../src/index.js';
import type { LmdbQueueStore } from '../src/index.js';
import { QUEUE } from '@postern/core';
import { contentFor } from './fixtures/queue-content.js';

const CHILD = fileURLToPath(new URL('./fixtures/queue-writer-child.js', import.meta.url));
const run = promisify(execFile);

async function contentOf(store: LmdbQueueStore, id: string): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const chunk of store.readContent(id)) parts.push(chunk);
  return Buffer.concat(parts);
}

test('two writer processes and this one commit at once: every message lands intact', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-queue-'));
  const store = openQueueStore({ queueDirectory: dir });
  try {
    const local = (async () => {
      const ids: string[] = [];
      for (let i = 0; i < 50; i++) {
        const w = store.createWriter();
        w.write(contentFor(w.id));
        ids.push((await w.commit({ sender: 'local@example.com', recipients: [{ address: 'x@example.net' }], arrivalTime: Date.now() })).id);
      }
      return ids;
    })();
    const [a, b, mine] = await Promise.all([run(process.execPath, [CHILD, 'burst', dir, '300']), run(process.execPath, [CHILD, 'burst', dir, '300']), local]);
    const ids = [...a.stdout.trim().split('\n'), ...b.stdout.trim().split('\n'), ...mine];
    assert.equal(ids.length, 650);
    assert.equal(new Set(ids).size, 650);
    assert.equal(await store.count(QUEUE.INCOMING), 650, 'this process sees the other processes commits');
    for (const id of ids) {
      assert.ok(await store.get(id), id);
      assert.ok((await contentOf(store, id)).equals(contentFor(id)), `${id} content`);
    }
    const scanned = [];
    for await (const m of store.scan(QUEUE.INCOMING)) scanned.push(m.id);
    assert.deepEqual(scanned, [...ids].sort());
    assert.deepEqual((await store.check()).problems, []);
  } finally {
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Starts a looping writer and SIGKILLs it once it has printed `atLeast` committed IDs. */
function killAfter(dir: string, atLeast: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CHILD, 'loop', dir, '16'], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    let killed = false;
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (data: string) => {
      out += data;
      if (!killed && out.split('\n').length > atLeast) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal !== 'SIGKILL') return reject(new Error(`writer exited with ${code ?? signal} before it was killed`));
      // Only complete lines: a partly written line was not a finished report.
      const lines = out.split('\n');
      lines.pop();
      resolve(lines);
    });
  });
}

test('kill -9 of writers: every reported commit survives intact, nothing partial is visible', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-queue-'));
  try {
    const [first, second] = await Promise.all([killAfter(dir, 300), killAfter(dir, 150)]);
    const third = await killAfter(dir, 100);
    const reported = [...first, ...second, ...third];
    assert.ok(reported.length >= 550);
    const store = openQueueStore({ queueDirectory: dir });
    try {
      for (const id of reported) {
        const m = await store.get(id);
        assert.ok(m, `${id} was reported committed but is missing`);
        assert.equal(m.queue, QUEUE.INCOMING);
        assert.ok((await contentOf(store, id)).equals(contentFor(id)), `${id} content`);
      }
      // Messages committed but not yet reported may exist; each must be whole.
      let listed = 0;
      for await (const m of store.scan(QUEUE.INCOMING)) {
        listed++;
        const content = await contentOf(store, m.id);
        assert.equal(content.length, m.size);
        assert.ok(content.equals(contentFor(m.id)), `${m.id} content`);
      }
      assert.ok(listed >= reported.length);
      assert.equal(await store.count(QUEUE.INCOMING), listed);
      assert.deepEqual((await store.check()).problems, [], 'no partial messages, orphan content or stray index entries');
      // The reopened store still takes mail.
      const w = store.createWriter();
      w.write(contentFor(w.id));
      await w.commit({ sender: '', recipients: [{ address: 'postmaster@example.net' }], arrivalTime: Date.now() });
      assert.ok((await contentOf(store, w.id)).equals(contentFor(w.id)));
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write failure (file size limit: EFBIG) rejects commit with QUEUE_WRITE; the queue stays consistent', async (t) => {
  try {
    await run('prlimit', ['--version']);
  } catch {
    t.skip('prlimit(1) is not installed');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'postern-queue-'));
  try {
    const { stdout } = await run('prlimit', [`--fsize=${8 * 1024 * 1024}`, process.execPath, CHILD, 'fill', dir]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.at(-1), 'error POSTERN_ERR_QUEUE_WRITE');
    const ok = lines.slice(0, -1).map((line) => line.replace(/^ok /, ''));
    assert.ok(ok.length >= 1);
    const store = openQueueStore({ queueDirectory: dir });
    try {
      assert.equal(await store.count(QUEUE.INCOMING), ok.length, 'the failed message is not visible');
      for (const id of ok) assert.equal((await store.get(id))?.sender, 'fill@example.com');
      assert.deepEqual((await store.check()).problems, []);
    } finally {
      await store.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
