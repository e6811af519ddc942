/**
 * Follows a log file as `tail -F` does: starts at its end, hands over every
 * whole line appended since, and notices rotation (a new file under the name)
 * and truncation, reading what the old file still held before moving on. A
 * file that does not exist yet is waited for.
 */
import { open, stat, type FileHandle } from 'node:fs/promises';
import { StringDecoder } from 'node:string_decoder';

const READ_CHUNK = 1 << 20;

export class LogFollower {
  private fh: FileHandle | undefined;
  private ino = -1;
  private pos = 0;
  private partial = '';
  private decoder = new StringDecoder('utf8');
  private busy: Promise<void> | undefined;
  private started = false;

  constructor(
    private readonly path: string,
    private readonly onLine: (line: string) => void,
  ) {}

  /** Reads whatever was appended since the last call (concurrent calls share one read). */
  poll(): Promise<void> {
    this.busy ??= this.catchUp().finally(() => (this.busy = undefined));
    return this.busy;
  }

  async close(): Promise<void> {
    await this.busy;
    await this.fh?.close();
    this.fh = undefined;
  }

  private async catchUp(): Promise<void> {
    const now = await stat(this.path).catch(() => undefined);
    const first = !this.started;
    this.started = true;
    if (!this.fh) {
      if (!now) return;
      // the file as it is at the start was logged before us; one that appears later is all new
      await this.reopen(now.ino, first ? now.size : 0);
    }
    await this.drain();
    // stat again: the file may have grown while it was read, and a size taken
    // before the read would look like a truncation (and the file be read twice)
    const after = await stat(this.path).catch(() => undefined);
    if (after && (after.ino !== this.ino || after.size < this.pos)) {
      // rotated or truncated: what the old file held is read above; go on from the new file's start
      await this.reopen(after.ino, 0);
      await this.drain();
    }
  }

  private async reopen(ino: number, from: number): Promise<void> {
    await this.fh?.close();
    this.fh = await open(this.path, 'r');
    this.ino = ino;
    this.pos = from;
    this.partial = '';
    this.decoder = new StringDecoder('utf8');
  }

  private async drain(): Promise<void> {
    const buf = Buffer.allocUnsafe(READ_CHUNK);
    for (;;) {
      const { bytesRead } = await this.fh!.read(buf, 0, READ_CHUNK, this.pos);
      if (bytesRead === 0) return;
      this.pos += bytesRead;
      const text = this.partial + this.decoder.write(buf.subarray(0, bytesRead));
      const lines = text.split('\n');
      this.partial = lines.pop()!;
      for (const line of lines) if (line) this.onLine(line);
    }
  }
}
