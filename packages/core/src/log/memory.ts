/**
 * A Logger that keeps its lines in memory, with Postfix's level prefixes
 * ("warning: ...", "fatal: ..."): for tests, and for embedders that read a
 * service's log instead of writing a maillog.
 */
import type { Logger } from '../contracts/logger.js';

export class MemoryLogger implements Logger {
  readonly lines: string[] = [];
  readonly verbose = false;
  info(text: string): void {
    this.lines.push(text);
  }
  warn(text: string): void {
    this.lines.push(`warning: ${text}`);
  }
  error(text: string): void {
    this.lines.push(`error: ${text}`);
  }
  fatal(text: string): void {
    this.lines.push(`fatal: ${text}`);
  }
  panic(text: string): void {
    this.lines.push(`panic: ${text}`);
  }
  debug(): void {}
  child(): Logger {
    return this;
  }
}
