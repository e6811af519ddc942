import 'reflect-metadata';
import type { DependencyContainer } from 'tsyringe';

/**
 * A typed tsyringe token: a symbol that remembers the contract it stands for,
 * so `use(container, QUEUE_STORE)` is a `QueueStore` without a cast.
 */
export type Token<T> = symbol & { readonly __contract?: T };

export function token<T>(name: string): Token<T> {
  return Symbol.for(`postern.${name}`) as Token<T>;
}

/** Resolves `tok` from `container` (or a parent of it). */
export function use<T>(container: DependencyContainer, tok: Token<T>): T {
  return container.resolve<T>(tok);
}

/** Resolves `tok` when `container` (or a parent of it) has it, else undefined. */
export function tryUse<T>(container: DependencyContainer, tok: Token<T>): T | undefined {
  return container.isRegistered(tok, true) ? container.resolve<T>(tok) : undefined;
}

/** Registers `value` for `tok` in `container` (a child container, never the global one). */
export function provide<T>(container: DependencyContainer, tok: Token<T>, value: T): void {
  container.registerInstance<T>(tok, value);
}

/** Registers a lazily made value: `make` runs at the first resolve, once. */
export function provideLazy<T>(container: DependencyContainer, tok: Token<T>, make: () => T): void {
  let made: { value: T } | undefined;
  container.register<T>(tok, { useFactory: () => (made ??= { value: make() }).value });
}

/** tsyringe's decorators, from core so every plugin shares core's tsyringe: `@injectable()` classes take contracts as `@inject(TOKEN)` constructor parameters. */
export { inject, injectable } from 'tsyringe';
