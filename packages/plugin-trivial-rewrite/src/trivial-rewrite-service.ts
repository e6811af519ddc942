/**
 * The RewriteService of trivial-rewrite(8): rewrite() and resolve() over the
 * process's configuration and tables, with a bounded per-process cache of
 * answers (Postfix's rewrite/resolve clients keep one too). Answers that
 * came from a failed lookup are never cached.
 */
import type { ConfigView, Logger, ResolveResult, RewriteContext, RewriteService, TableRegistry } from '@postern/core';
import { localRewriteRules, remoteRewriteRules, Resolver } from './trivial-rewrite-resolve.js';
import { rewriteAddress, type RewriteRules } from './trivial-rewrite-rewrite.js';

export interface TrivialRewriteOptions {
  /** Most answers kept (default 10000). */
  readonly cacheSize?: number;
  /** How long an answer is kept, in ms (default 60000; 0 = no cache). */
  readonly cacheTtl?: number;
}

interface Cached<T> {
  readonly value: T;
  readonly expires: number;
}

class AnswerCache<T> {
  private readonly map = new Map<string, Cached<T>>();
  constructor(
    private readonly size: number,
    private readonly ttl: number,
  ) {}

  get(key: string): T | undefined {
    const hit = this.map.get(key);
    if (!hit) return undefined;
    if (hit.expires < Date.now()) {
      this.map.delete(key);
      return undefined;
    }
    return hit.value;
  }

  set(key: string, value: T): void {
    if (this.ttl <= 0 || this.size <= 0) return;
    this.map.delete(key);
    this.map.set(key, { value, expires: Date.now() + this.ttl });
    if (this.map.size > this.size) this.map.delete(this.map.keys().next().value as string);
  }

  get entries(): number {
    return this.map.size;
  }
}

export class TrivialRewrite implements RewriteService {
  readonly resolver: Resolver;
  private readonly rules: Readonly<Record<RewriteContext, RewriteRules>>;
  private readonly rewrites: AnswerCache<string>;
  private readonly resolves: AnswerCache<ResolveResult>;

  constructor(config: ConfigView, tables: TableRegistry, log: Logger, options: TrivialRewriteOptions = {}) {
    this.resolver = new Resolver(config, tables, log);
    this.rules = { local: localRewriteRules(config), remote: remoteRewriteRules(config) };
    const size = options.cacheSize ?? 10000;
    const ttl = options.cacheTtl ?? 60000;
    this.rewrites = new AnswerCache(size, ttl);
    this.resolves = new AnswerCache(size, ttl);
  }

  async rewrite(context: RewriteContext, address: string): Promise<string> {
    const rules = this.rules[context] ?? this.rules.local;
    const key = `${context}\0${address}`;
    const hit = this.rewrites.get(key);
    if (hit !== undefined) return hit;
    const result = rewriteAddress(address, rules);
    this.rewrites.set(key, result);
    return result;
  }

  async resolve(address: string, sender = ''): Promise<ResolveResult> {
    const key = `${address}\0${sender}`;
    const hit = this.resolves.get(key);
    if (hit !== undefined) return hit;
    const result = await this.resolver.resolve(address, sender);
    if (!result.flags.includes('fail')) this.resolves.set(key, result);
    return result;
  }

  /** Answers held in the cache (for tests and `postern status`). */
  get cached(): number {
    return this.rewrites.entries + this.resolves.entries;
  }
}
