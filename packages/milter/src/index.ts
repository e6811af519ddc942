export { Milter, milterAddress, type MacroLists, type MacroSource, type MilterDefaultAction, type MilterEdit, type MilterSpec } from './milter-conn.js';
export { MILTER_PARAMETERS } from './milter-params.js';
export { MilterChain, macroLists, milterSpecs, type MilterConfig, type MilterMessageResult } from './milter-chain.js';
export { MilterHeaderChecks, type HeaderCheckContext, type HeaderCheckLog, type HeaderCheckTable } from './milter-hbc.js';
export { applyContentEdits, formatMessage, parseMessage, splitHeader, type MilterHeader, type MilterMessage } from './milter-message.js';
export { CHUNK_SIZE, SMFIC, SMFIF, SMFIM, SMFIP, SMFIR } from './milter-protocol.js';
