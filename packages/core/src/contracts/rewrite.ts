import { token } from './token.js';

/** rewrite contexts of trivial-rewrite(8). */
export type RewriteContext = 'local' | 'remote';

/** ADDRESS_CLASS_README's address classes. */
export type AddressClass = 'local' | 'virtual_alias' | 'virtual_mailbox' | 'relay' | 'default';

export interface ResolveResult {
  readonly transport: string;
  readonly nexthop: string;
  /** The recipient as the delivery agent should see it. */
  readonly recipient: string;
  readonly class: AddressClass;
  /** RESOLVE_FLAG_*: final (our destination), routed (user@domain@domain, %), error, fail. */
  readonly flags: readonly ('final' | 'routed' | 'error' | 'fail')[];
}

/** trivial-rewrite(8): address rewriting and resolving. */
export interface RewriteService {
  rewrite(context: RewriteContext, address: string): Promise<string>;
  resolve(address: string, sender?: string): Promise<ResolveResult>;
}

export const REWRITE = token<RewriteService>('RewriteService');
