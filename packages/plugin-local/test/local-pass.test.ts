/**
 * aggregate() with leaves handed to another delivery agent (deliver_pass):
 * the other agent's answer is passed on marked `reported` (it logged and
 * recorded it); local(8)'s own leaves are reported by local(8).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RecipientResult } from '@postern/core';
import { aggregate } from '../src/local.js';

const passed = (status: RecipientResult['status'], dsn: string): RecipientResult => ({ index: 3, status, dsn, reason: `${status} by lmtp`, relay: '127.0.0.1[127.0.0.1]:24' });

test('a passed leaf alone: the other agent answer, marked reported', () => {
  const r = aggregate(3, [{ status: 'sent', dsn: '2.0.0', reason: 'sent by lmtp', address: 'a@x', passed: passed('sent', '2.0.0') }]);
  assert.equal(r.reported, true);
  assert.equal(r.relay, '127.0.0.1[127.0.0.1]:24');
  assert.equal(r.index, 3);
});

test('a deferred passed leaf decides the recipient, reported by the other agent', () => {
  const r = aggregate(3, [
    { status: 'sent', dsn: '2.0.0', reason: 'delivered to mailbox', address: 'b@x' },
    { status: 'deferred', dsn: '4.4.1', reason: 'deferred by lmtp', address: 'a@x', passed: passed('deferred', '4.4.1') },
  ]);
  assert.equal(r.status, 'deferred');
  assert.equal(r.reported, true);
});

test('a sent passed leaf and a local one: local reports only its own', () => {
  const r = aggregate(3, [
    { status: 'sent', dsn: '2.0.0', reason: 'sent by lmtp', address: 'a@x', passed: passed('sent', '2.0.0') },
    { status: 'sent', dsn: '2.0.0', reason: 'delivered to mailbox', address: 'b@x' },
  ]);
  assert.equal(r.reported, undefined);
  assert.equal(r.reason, 'delivered to mailbox');
  assert.equal(r.address, 'b@x');
  assert.equal(r.relay, 'local');
});

test('a local deferral with a passed success: local reports its deferral', () => {
  const r = aggregate(3, [
    { status: 'sent', dsn: '2.0.0', reason: 'sent by lmtp', address: 'a@x', passed: passed('sent', '2.0.0') },
    { status: 'deferred', dsn: '4.2.0', reason: 'cannot open mailbox', address: 'b@x' },
  ]);
  assert.equal(r.status, 'deferred');
  assert.equal(r.reported, undefined);
  assert.equal(r.reason, 'cannot open mailbox');
});
