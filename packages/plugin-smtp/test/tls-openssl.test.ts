/**
 * Postfix protocol lists as Node's minVersion/maxVersion, and cipher grades
 * with exclusions as OpenSSL cipher strings (@postern/smtp-client tls-openssl.ts).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CIPHERLIST_PARAMETERS, cipherList, protocolRange } from '@postern/smtp-client';

test('protocolRange: floors, ceilings, exclusions and inclusions', () => {
  assert.deepEqual(protocolRange('>=TLSv1'), { minVersion: 'TLSv1' });
  assert.deepEqual(protocolRange('>=TLSv1.2'), { minVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('>=TLSv1.3'), { minVersion: 'TLSv1.3' });
  assert.deepEqual(protocolRange('<=TLSv1.2'), { minVersion: 'TLSv1', maxVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('>=tlsv1.1, <=TLSv1.2'), { minVersion: 'TLSv1.1', maxVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('!SSLv2, !SSLv3, !TLSv1, !TLSv1.1'), { minVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('!SSLv2:!SSLv3'), { minVersion: 'TLSv1' });
  assert.deepEqual(protocolRange('!TLSv1.3'), { minVersion: 'TLSv1', maxVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('TLSv1.2 TLSv1.3'), { minVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange('TLSv1.2'), { minVersion: 'TLSv1.2', maxVersion: 'TLSv1.2' });
  assert.deepEqual(protocolRange(''), { minVersion: 'TLSv1' });
});

test('protocolRange: a hole keeps the range above it and says so; nothing left or unknown names are errors', () => {
  assert.deepEqual(protocolRange('!TLSv1.1'), {
    minVersion: 'TLSv1.2',
    warning: 'TLS protocol list "!TLSv1.1" is not one contiguous range, which is all Node.js can enable: using TLSv1.2 to TLSv1.3 only',
  });
  assert.deepEqual(protocolRange('TLSv1 TLSv1.2'), {
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.2',
    warning: 'TLS protocol list "TLSv1 TLSv1.2" is not one contiguous range, which is all Node.js can enable: using TLSv1.2 only',
  });
  assert.deepEqual(protocolRange('>=TLSv1.3, !TLSv1.3'), { error: 'TLS protocol list ">=TLSv1.3, !TLSv1.3" leaves no protocol that Node.js supports' });
  assert.deepEqual(protocolRange('SSLv3'), { error: 'TLS protocol list "SSLv3" leaves no protocol that Node.js supports' });
  assert.deepEqual(protocolRange('>=TLSv1.4'), { error: 'Invalid TLS protocol list ">=TLSv1.4": unknown protocol "TLSv1.4"' });
});

const defaults = new Map(CIPHERLIST_PARAMETERS.map((p) => [p.name, p.default]));
const lists = (name: string) => defaults.get(name) ?? '';

test('cipherList: the grade\'s tls_*_cipherlist (Postfix\'s defaults) minus each exclusion', () => {
  assert.deepEqual(cipherList('medium', [], lists), { ciphers: 'aNULL:-aNULL:HIGH:MEDIUM:+RC4:@STRENGTH' });
  assert.deepEqual(cipherList('HIGH', [''], lists), { ciphers: 'aNULL:-aNULL:HIGH:@STRENGTH' });
  assert.deepEqual(cipherList('low', [], lists), { ciphers: 'aNULL:-aNULL:HIGH:MEDIUM:LOW:+RC4:@STRENGTH' });
  assert.deepEqual(cipherList('export', [], lists), { ciphers: 'aNULL:-aNULL:HIGH:MEDIUM:LOW:EXPORT:+RC4:@STRENGTH' });
  assert.deepEqual(cipherList('null', [], lists), { ciphers: 'eNULL:!aNULL' });
  assert.deepEqual(cipherList('high', ['aNULL, MD5 RC4', 'ECDHE-RSA-AES128-GCM-SHA256:3DES'], lists), {
    ciphers: 'aNULL:-aNULL:HIGH:@STRENGTH:!aNULL:!MD5:!RC4:!ECDHE-RSA-AES128-GCM-SHA256:!3DES',
  });
  assert.deepEqual(cipherList('high', [], (n) => (n === 'tls_high_cipherlist' ? 'ECDHE+AESGCM' : '')), { ciphers: 'ECDHE+AESGCM' });
});

test('cipherList: an unknown grade, an empty list and a modifier in an exclusion are errors', () => {
  assert.deepEqual(cipherList('strong', [], lists), { error: 'invalid cipher grade: "strong"' });
  assert.deepEqual(cipherList('high', [], () => ''), { error: 'tls_high_cipherlist is empty' });
  assert.deepEqual(cipherList('high', ['!RC4'], lists), { error: 'invalid unary \'!+-@\' in cipher exclusion: "!RC4"' });
});
