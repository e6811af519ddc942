export { DNS_PARAMETERS } from './dns-params.js';
export { configuredResolver, dnsResolver, type DnsResolverOptions } from './dns-resolver.js';
export {
  dnsblLookup,
  dnsblQueryName,
  filterReply,
  ipFilterMatch,
  parseDnsblSite,
  parseIpFilter,
  type DnsblAnswer,
  type DnsblSite,
} from './dnsbl.js';
export { DNSMASQ, startTestDns, type TestDns, type TestDnsOptions } from './test-dns.js';
