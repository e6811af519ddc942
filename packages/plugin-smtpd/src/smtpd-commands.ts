/**
 * smtpd's command word lists (smtpd.c, Postfix 3.7):
 *
 *   smtpd_noop_commands       words answered "250 2.0.0 Ok" without a syntax
 *                             check or a change of state (counted as junk)
 *   smtpd_forbidden_commands  an unknown command that is a listed word, or a
 *                             header line ("Subject: ..."), is not SMTP: the
 *                             client hears "221 2.7.0 Error: I can break
 *                             rules, too. Goodbye." and is disconnected
 *
 * Both are string lists (core's MatchList): words ignore case, !word makes
 * an exception, type:table entries are looked up, as in
 * `regexp:{{/^[^A-Z]/ Bogus}}` of the forbidden default (a command that does
 * not start with a letter). A table that cannot be opened or answer counts
 * as no match: "Ignore smtpd_forbid_cmds lookup errors. Non-critical feature."
 */
import { headerName } from '@postern/address';
import { MatchList, type ConfigView, type Logger, type TableRegistry } from '@postern/core';

export class SmtpdCommandLists {
  private readonly noop: MatchList;
  private readonly forbidden: MatchList;

  constructor(config: ConfigView, tables: TableRegistry | undefined, private readonly log: Logger) {
    this.noop = this.open(config, 'smtpd_noop_commands', tables);
    this.forbidden = this.open(config, 'smtpd_forbidden_commands', tables);
  }

  private open(config: ConfigView, parameter: string, tables: TableRegistry | undefined): MatchList {
    return new MatchList(parameter, config.list(parameter), tables, 'exact', (spec, err) =>
      this.log.warn(`${parameter}: ${spec}: ${err.message}; the table is not used`),
    );
  }

  private async matches(list: MatchList, word: string): Promise<boolean> {
    if (list.empty) return false;
    try {
      return await list.match(word);
    } catch (err) {
      this.log.warn(`${list.parameter}: lookup of "${word.slice(0, 100)}": ${(err as Error).message}`);
      return false;
    }
  }

  /** smtpd_noop_commands is set: isNoop() is worth asking (every command line would wait for it otherwise). */
  get hasNoop(): boolean {
    return !this.noop.empty;
  }

  /** smtpd_noop_commands lists the command's first word. */
  isNoop(word: string): Promise<boolean> {
    return this.matches(this.noop, word);
  }

  /** An unknown command's first word is a header label or in smtpd_forbidden_commands. */
  async isForbidden(word: string): Promise<boolean> {
    return headerName(word) !== undefined || this.matches(this.forbidden, word);
  }
}
