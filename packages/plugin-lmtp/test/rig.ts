/**
 * The LMTP client's tests use the same loopback servers as the SMTP client's
 * (both drive core's smtp-client): plugin-smtp's test rig, as a dev dependency.
 */
export * from '@postern/plugin-smtp/test-rig';
