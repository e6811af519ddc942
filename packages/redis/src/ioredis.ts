/**
 * ioredis, loaded at its first use rather than when the package is imported:
 * every Postern process finds the installed plugins, and this package is one
 * of them, but only a process that talks to Redis should pay for the client
 * library (about 100 ms and 10 MiB). ioredis is CommonJS, so a synchronous
 * require() is enough.
 */
import { createRequire } from 'node:module';
import type * as IORedis from 'ioredis';

let loaded: typeof IORedis | undefined;

export function ioredis(): typeof IORedis {
  return (loaded ??= createRequire(import.meta.url)('ioredis') as typeof IORedis);
}
