/** swaks(1), the real SMTP client of the front-door tests: one run, its transcript and exit status. */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';

export const SWAKS = ['/usr/bin/swaks', '/usr/local/bin/swaks'].find((p) => existsSync(p));

export interface SwaksRun {
  readonly code: number;
  readonly out: string;
}

/** Runs swaks against 127.0.0.1:`port` with `args`; never rejects. */
export function swaks(port: number, args: readonly string[], timeoutMs = 20_000): Promise<SwaksRun> {
  return new Promise((resolve) => {
    execFile(
      SWAKS!,
      ['--server', '127.0.0.1', '--port', String(port), '--timeout', '15', '--helo', 'client.example', ...args],
      { timeout: timeoutMs },
      (err, stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, out: `${stdout}${stderr}` }),
    );
  });
}
