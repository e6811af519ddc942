import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createTableRegistry } from '@postern/tables';
import { type ResolveResult } from '@postern/core';
import { TrivialRewrite } from '../src/index.js';
import { makeConfig, MemoryLog, tempDir } from './helpers.js';

type Want = Partial<Omit<ResolveResult, 'flags'>> & { flags?: readonly string[] };

/** name, main.cf settings key (see SETUPS), address, sender, expected. */
type Case = readonly [string, keyof typeof SETUPS, string, string, Want];

const TRANSPORT = `
special@remote.example   special:[10.0.0.1]
remote.example            smtp:[gw.remote.example]:2525
.sub.example              slow:
keep.example              :
hoponly.example           :[hop.example]
dead.example              error:mail for dead.example is not deliverable
mail.example.com          lmtp:unix:private/dovecot-lmtp
`;

const RELOCATED = `
moved@mail.example.com    new@elsewhere.example
moved2                    someone@x.example
@oldco.example            contact@newco.example
`;

const SETUPS = {
  plain: {} as Record<string, string>,
  classes: {
    virtual_alias_domains: 'valias.example',
    virtual_mailbox_domains: 'vmbox.example',
    relay_domains: 'relay.example',
    recipient_delimiter: '+',
  } as Record<string, string>,
  transport: { transport_maps: 'texthash:{dir}/transport', recipient_delimiter: '+' } as Record<string, string>,
  parentTransport: {
    transport_maps: 'texthash:{dir}/transport',
    parent_domain_matches_subdomains: 'relay_domains, transport_maps',
  } as Record<string, string>,
  wildcard: { transport_maps: 'texthash:{dir}/transport, inline:{ {*=wild:[wildcard.example]} }' } as Record<string, string>,
  relayhost: { relayhost: '[smart.example]:587', relay_domains: 'relay.example' } as Record<string, string>,
  relayhostPlain: { relayhost: 'smart.example' } as Record<string, string>,
  relayhostPort: { relayhost: 'smart.example:2525' } as Record<string, string>,
  relayhostLiteral: { relayhost: '[192.0.2.9]' } as Record<string, string>,
  relocated: { relocated_maps: 'texthash:{dir}/relocated' } as Record<string, string>,
  senderRelay: {
    sender_dependent_relayhost_maps: 'inline:{ {@snd.example=[smarthost.snd.example]} }',
    relayhost: 'fallback.example',
  } as Record<string, string>,
  localTransport: { local_transport: 'local', default_transport: 'smtp:[outbound.example]' } as Record<string, string>,
  nodequote: { resolve_dequoted_address: 'no' } as Record<string, string>,
  nullDomain: { resolve_null_domain: 'yes' } as Record<string, string>,
  numericDomain: { resolve_numeric_domain: 'yes' } as Record<string, string>,
  noPercent: { allow_percent_hack: 'no' } as Record<string, string>,
  oldLevel: { compatibility_level: '0' } as Record<string, string>,
};

const CASES: readonly Case[] = [
  // Local class.
  ['local user@myhostname', 'plain', 'user@mail.example.com', '', { class: 'local', transport: 'local', nexthop: 'mail.example.com', recipient: 'user@mail.example.com', flags: ['final'] }],
  ['bare local part', 'plain', 'user', '', { class: 'local', recipient: 'user@mail.example.com', flags: ['final'] }],
  ['localhost keeps its domain, local_transport nexthop', 'plain', 'user@localhost', '', { class: 'local', transport: 'local', nexthop: 'mail.example.com', recipient: 'user@localhost' }],
  ['case-insensitive mydestination', 'plain', 'User@MAIL.Example.COM', '', { class: 'local', recipient: 'User@MAIL.Example.COM' }],
  ['trailing dot', 'plain', 'user@mail.example.com.', '', { class: 'local', recipient: 'user@mail.example.com' }],
  ['ip literal of inet_interfaces is local', 'plain', 'user@[127.0.0.1]', '', { class: 'local', recipient: 'user@[127.0.0.1]', flags: ['final'] }],
  ['other ip literal is remote', 'plain', 'user@[192.0.2.55]', '', { class: 'default', transport: 'smtp', nexthop: '[192.0.2.55]', flags: [] }],
  ['null address is MAILER-DAEMON', 'plain', '', '', { class: 'local', recipient: 'MAILER-DAEMON@mail.example.com' }],
  ['local_transport without nexthop: domain', 'localTransport', 'user@localhost', '', { transport: 'local', nexthop: 'localhost' }],
  // Routing operators.
  ['user@remote@local resolves to the remote address', 'plain', 'user@remote.example@mail.example.com', '', { class: 'default', recipient: 'user@remote.example', nexthop: 'remote.example', flags: [] }],
  ['percent hack behind local domain', 'plain', 'user%remote.example@mail.example.com', '', { class: 'default', recipient: 'user@remote.example', flags: [] }],
  ['bang path behind local domain', 'plain', 'remote.example!user@localhost', '', { class: 'default', recipient: 'user@remote.example', flags: [] }],
  ['operators left after resolving are routed', 'plain', 'a!user%b.example@remote.example@localhost', '', { class: 'default', recipient: 'a!user%b.example@remote.example', flags: ['routed'] }],
  ['percent kept when allow_percent_hack=no', 'noPercent', 'user%remote.example@mail.example.com', '', { class: 'local', recipient: 'user%remote.example@mail.example.com', flags: ['final', 'routed'] }],
  ['routing operator in remote local part', 'plain', 'user%other.example@remote.example', '', { class: 'default', flags: ['routed'] }],
  ['quoted @ not cracked open with resolve_dequoted_address=no', 'nodequote', 'user@remote.example@mail.example.com', '', { class: 'local', recipient: 'user@remote.example@mail.example.com', flags: ['final', 'routed'] }],
  ['host without dot gets .mydomain below level 1', 'oldLevel', 'user@remote@localhost', '', { recipient: 'user@remote.example.com', class: 'default' }],
  // Bad addresses.
  ['numeric domain is an error', 'plain', 'user@192.0.2.1', '', { flags: ['error'] }],
  ['numeric domain allowed with resolve_numeric_domain', 'numericDomain', 'user@192.0.2.1', '', { class: 'default', flags: [] }],
  ['numeric own address is local with resolve_numeric_domain', 'numericDomain', 'user@127.0.0.1', '', { class: 'local' }],
  ['bad domain syntax is an error', 'plain', 'user@bad_domain!', '', { flags: ['error'] }],
  ['empty domain is an error', 'plain', 'user@', '', { flags: ['error'] }],
  ['empty domain is local with resolve_null_domain', 'nullDomain', 'user@', '', { class: 'local', recipient: 'user@mail.example.com' }],
  // Address classes.
  ['virtual alias domain', 'classes', 'x@valias.example', '', { class: 'virtual_alias', transport: 'error', nexthop: '5.1.1 User unknown in virtual alias table', flags: ['final'] }],
  ['virtual mailbox domain', 'classes', 'x@vmbox.example', '', { class: 'virtual_mailbox', transport: 'virtual', nexthop: 'vmbox.example', flags: ['final'] }],
  ['relay domain', 'classes', 'x@relay.example', '', { class: 'relay', transport: 'relay', nexthop: 'relay.example', flags: [] }],
  ['relay_domains matches subdomains (parent style)', 'classes', 'x@deep.sub.relay.example', '', { class: 'relay', nexthop: 'deep.sub.relay.example' }],
  ['default class', 'classes', 'x@other.example', '', { class: 'default', transport: 'smtp', nexthop: 'other.example', flags: [] }],
  ['relay_domains is $mydestination below level 2', 'oldLevel', 'x@localhost', '', { class: 'local' }],
  ['default_transport with nexthop', 'localTransport', 'x@other.example', '', { transport: 'smtp', nexthop: '[outbound.example]' }],
  // relayhost forms are passed through as the nexthop.
  ['relayhost [host]:port', 'relayhost', 'x@other.example', '', { class: 'default', transport: 'smtp', nexthop: '[smart.example]:587' }],
  ['relayhost applies to relay class', 'relayhost', 'x@relay.example', '', { class: 'relay', transport: 'relay', nexthop: '[smart.example]:587' }],
  ['relayhost does not apply to local mail', 'relayhost', 'x@localhost', '', { class: 'local', nexthop: 'mail.example.com' }],
  ['relayhost host', 'relayhostPlain', 'x@other.example', '', { nexthop: 'smart.example' }],
  ['relayhost host:port', 'relayhostPort', 'x@other.example', '', { nexthop: 'smart.example:2525' }],
  ['relayhost [ip]', 'relayhostLiteral', 'x@other.example', '', { nexthop: '[192.0.2.9]' }],
  ['sender_dependent_relayhost_maps', 'senderRelay', 'x@other.example', 'a@snd.example', { nexthop: '[smarthost.snd.example]' }],
  ['sender_dependent_relayhost_maps miss: relayhost', 'senderRelay', 'x@other.example', 'a@else.example', { nexthop: 'fallback.example' }],
  // transport_maps search order.
  ['transport: full address first', 'transport', 'special@remote.example', '', { transport: 'special', nexthop: '[10.0.0.1]' }],
  ['transport: address without extension', 'transport', 'special+box@remote.example', '', { transport: 'special', nexthop: '[10.0.0.1]', recipient: 'special+box@remote.example' }],
  ['transport: domain', 'transport', 'other@remote.example', '', { transport: 'smtp', nexthop: '[gw.remote.example]:2525' }],
  ['transport: domain does not match subdomains by default', 'transport', 'x@a.remote.example', '', { transport: 'smtp', nexthop: 'a.remote.example' }],
  ['transport: .parent matches subdomains; empty nexthop = domain', 'transport', 'x@a.b.sub.example', '', { transport: 'slow', nexthop: 'a.b.sub.example' }],
  ['transport: .parent does not match the parent itself', 'transport', 'x@sub.example', '', { transport: 'smtp', nexthop: 'sub.example' }],
  ['transport: ":" keeps class defaults', 'transport', 'x@keep.example', '', { transport: 'smtp', nexthop: 'keep.example' }],
  ['transport: ":nexthop" keeps the transport', 'transport', 'x@hoponly.example', '', { transport: 'smtp', nexthop: '[hop.example]' }],
  ['transport: error transport', 'transport', 'x@dead.example', '', { transport: 'error', nexthop: 'mail for dead.example is not deliverable' }],
  ['transport: overrides local class', 'transport', 'x@mail.example.com', '', { class: 'local', transport: 'lmtp', nexthop: 'unix:private/dovecot-lmtp' }],
  ['transport: parent_domain_matches_subdomains has transport_maps', 'parentTransport', 'x@a.remote.example', '', { transport: 'smtp', nexthop: '[gw.remote.example]:2525' }],
  ['transport: * wildcard last', 'wildcard', 'x@nowhere.example', '', { transport: 'wild', nexthop: '[wildcard.example]' }],
  ['transport: specific entry beats *', 'wildcard', 'x@remote.example', '', { transport: 'smtp', nexthop: '[gw.remote.example]:2525' }],
  // relocated_maps.
  ['relocated full address', 'relocated', 'moved@mail.example.com', '', { class: 'local', transport: 'error', nexthop: '5.1.6 User has moved to new@elsewhere.example' }],
  ['relocated bare local part of a local domain', 'relocated', 'moved2@localhost', '', { transport: 'error', nexthop: '5.1.6 User has moved to someone@x.example' }],
  ['relocated @domain', 'relocated', 'anyone@oldco.example', '', { class: 'default', transport: 'error', nexthop: '5.1.6 User has moved to contact@newco.example' }],
  ['not relocated', 'relocated', 'moved2@remote.example', '', { transport: 'smtp', nexthop: 'remote.example' }],
];

function check(name: string, got: ResolveResult, want: Want): void {
  for (const [k, v] of Object.entries(want)) {
    if (k === 'flags') assert.deepEqual([...got.flags].sort(), [...(v as string[])].sort(), `${name}: flags`);
    else assert.equal(got[k as keyof ResolveResult], v, `${name}: ${k}`);
  }
}

test('resolve(): address classes, transports, nexthops and flags', async () => {
  const t = tempDir();
  try {
    t.file('transport', TRANSPORT);
    t.file('relocated', RELOCATED);
    const services = new Map<string, TrivialRewrite>();
    for (const [name, setup, address, sender, want] of CASES) {
      let svc = services.get(setup);
      if (!svc) {
        const settings = Object.fromEntries(Object.entries(SETUPS[setup]).map(([k, v]) => [k, v.replace('{dir}', t.dir)]));
        svc = new TrivialRewrite(makeConfig(t.dir, settings), createTableRegistry(), new MemoryLog());
        services.set(setup, svc);
      }
      check(name, await svc.resolve(address, sender), want);
    }
  } finally {
    t.remove();
  }
});

test('resolve(): a failing table gives the fail flag, and it is not cached', async () => {
  const t = tempDir();
  try {
    const tables = createTableRegistry();
    let broken = true;
    tables.registerType('flaky', (name, spec) => ({
      spec,
      type: 'flaky',
      pattern: false,
      async lookup(key: string) {
        if (broken) throw new Error(`${name}: server down`);
        return key === 'remote.example' ? 'smtp:[up.example]' : undefined;
      },
    }));
    const log = new MemoryLog();
    const svc = new TrivialRewrite(makeConfig(t.dir, { transport_maps: 'flaky:x' }), tables, log);
    const first = await svc.resolve('u@remote.example');
    assert.deepEqual(first.flags, ['fail']);
    assert.ok(log.lines.some((l) => l.startsWith('warning: transport_maps lookup failure')));
    broken = false;
    const second = await svc.resolve('u@remote.example');
    assert.equal(second.nexthop, '[up.example]');
    assert.deepEqual(second.flags, []);
  } finally {
    t.remove();
  }
});

test('resolve(): answers are cached per process', async () => {
  const t = tempDir();
  try {
    const tables = createTableRegistry();
    let lookups = 0;
    tables.registerType('count', (_name, spec) => ({
      spec,
      type: 'count',
      pattern: false,
      async lookup() {
        lookups++;
        return undefined;
      },
    }));
    const svc = new TrivialRewrite(makeConfig(t.dir, { transport_maps: 'count:x' }), tables, new MemoryLog());
    await svc.resolve('a@remote.example');
    const after = lookups;
    assert.ok(after > 0);
    await svc.resolve('a@remote.example');
    assert.equal(lookups, after);
    await svc.resolve('b@remote.example');
    assert.ok(lookups > after);
  } finally {
    t.remove();
  }
});
