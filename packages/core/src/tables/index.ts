/** The lookup table registry: type:name resolution; the types come from packages. */
export { newTableRegistry, resolveTableSpec, splitTableList, splitTableSpec, LMDB_ALIAS_TYPES } from './registry.js';
export type { TableRegistryOptions } from './registry.js';
export { MatchList, domainListStyle, type MatchStyle } from './match-list.js';
