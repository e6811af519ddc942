/**
 * @postern/testkit: what Postern's package tests share, so that no test depends on
 * another plugin. A devDependency only; never a runtime dependency.
 *
 * - the loopback SMTP/LMTP server rig (smtp-server instances on 127.0.0.1 as remote
 *   hosts, a resolver mapping test names to them, a client built from parameters)
 */
export * from './smtp-rig.js';
