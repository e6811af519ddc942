/**
 * A small async queue of body chunks with a high-water mark, used for the
 * DATA frames of one call: the producer is told when to pause.
 */
export class ChunkQueue implements AsyncIterable<Buffer> {
  private chunks: Buffer[] = [];
  private bytes = 0;
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;

  constructor(
    private readonly highWater: number,
    private readonly onPressure: (paused: boolean) => void,
  ) {}

  push(chunk: Buffer): void {
    if (this.ended) return;
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    if (this.bytes > this.highWater) this.onPressure(true);
    this.notify();
  }

  end(): void {
    this.ended = true;
    this.notify();
  }

  fail(err: Error): void {
    this.failure = err;
    this.ended = true;
    this.notify();
  }

  get done(): boolean {
    return this.ended;
  }

  private notify(): void {
    const w = this.wake;
    this.wake = undefined;
    w?.();
  }

  async *[Symbol.asyncIterator](): AsyncIterator<Buffer> {
    for (;;) {
      if (this.chunks.length > 0) {
        const chunk = this.chunks.shift()!;
        const before = this.bytes;
        this.bytes -= chunk.length;
        if (before > this.highWater && this.bytes <= this.highWater) this.onPressure(false);
        yield chunk;
        continue;
      }
      if (this.failure) throw this.failure;
      if (this.ended) return;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }
}
