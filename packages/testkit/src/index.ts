/**
 * @postern/testkit: what Postern's package tests share, so that no test depends on
 * another plugin. A devDependency only; never a runtime dependency.
 *
 * - testConfig: a ConfigView from core's parameters, schemas and main.cf lines
 * - tempDir, tempQueue, TestClients, startTestService: services in the test's own process
 * - startStarttlsServer: an ESMTP server with STARTTLS that shares its ticket key through tlsmgr
 * - startMilterServer: a scripted milter (the milter protocol's milter side) that records what it saw
 * - the loopback SMTP/LMTP server rig (smtp-server instances on 127.0.0.1 as remote
 *   hosts, a resolver mapping test names to them, a client built from parameters)
 */
export * from './config.js';
export * from './milter-server.js';
export * from './smtp-rig.js';
export * from './starttls-server.js';
export * from './services.js';
