import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { DNSMASQ, dnsblLookup, dnsblQueryName, dnsResolver, filterReply, parseDnsblSite, startTestDns, type TestDns } from '../src/index.js';

describe('DNSBL names and site patterns', () => {
  test('query names: reversed octets, reversed IPv6 nibbles, domains as they are', () => {
    const cases: [string, string][] = [
      ['192.0.2.1', '1.2.0.192.zen.test'],
      ['2001:db8::1', `${'1'}.${'0.'.repeat(23)}8.b.d.0.1.0.0.2.zen.test`],
      ['example.com', 'example.com.zen.test'],
    ];
    for (const [name, q] of cases) assert.equal(dnsblQueryName(name, 'zen.test'), q);
  });

  test('sites: domain, =filter and *weight; bad ones are errors', () => {
    assert.deepEqual(parseDnsblSite('zen.test'), { domain: 'zen.test', filterText: undefined, filter: undefined, weight: 1 });
    const s = parseDnsblSite('zen.test=127.0.0.[2..4;10]*3');
    assert.ok(!('error' in s));
    assert.equal(s.weight, 3);
    assert.deepEqual(filterReply(s, ['127.0.0.2', '127.0.0.5', '127.0.0.10', '127.0.0.4']), ['127.0.0.2', '127.0.0.10', '127.0.0.4']);
    assert.equal((parseDnsblSite('list.dnswl.test=127.0.[0..255].[1;2;3]*-5') as { weight: number }).weight, -5);
    for (const bad of ['zen.test*x', 'zen.test=127.0.0', 'zen.test=127.0.0.[3..2]', 'bad domain']) {
      assert.ok('error' in parseDnsblSite(bad), bad);
    }
  });
});

describe('DNSBL lookups against dnsmasq', { skip: DNSMASQ ? false : 'dnsmasq is not installed' }, () => {
  let dns: TestDns;
  before(async () => {
    dns = await startTestDns({ zones: ['zen.test'], hosts: { '2.0.0.127.zen.test': ['127.0.0.2', '127.0.0.4'] }, ttl: 120 });
  });
  after(() => dns.stop());

  test('a listed address gives its records and their TTL; an unlisted one is not listed', async () => {
    const r = dnsResolver({ servers: [dns.server] });
    const listed = await dnsblLookup(r, '127.0.0.2', 'zen.test');
    assert.equal(listed.status, 'listed');
    assert.deepEqual([...listed.addresses].sort(), ['127.0.0.2', '127.0.0.4']);
    assert.equal(listed.ttl, 120);
    assert.deepEqual(await dnsblLookup(r, '127.0.0.3', 'zen.test'), { status: 'notlisted', addresses: [], ttl: -1 });
  });
});
