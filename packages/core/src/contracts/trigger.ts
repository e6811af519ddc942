import { token } from './token.js';

/** A trigger service as its clients see it (Postfix's mail_trigger): bytes that wake it. */
export interface TriggerService {
  /** Writes `bytes` (TRIGGER.*); dropped when the service is down, as Postfix does. */
  trigger(bytes: string): void;
}

/** qmgr's trigger endpoint (public/qmgr): cleanup and flush tell it about new and released mail. */
export const QMGR_TRIGGER = token<TriggerService>('QmgrTrigger');
