/**
 * postlogd(8) - Postfix internal log server.
 *
 * SYNOPSIS
 *   postlog   unix-dgram n  -       n       -       1       postlogd
 *
 * DESCRIPTION
 *   Logs events on behalf of programs that hand their log records over
 *   instead of writing maillog_file themselves. In Postern every daemon and
 *   command (`postern log` included) writes maillog_file directly, so nothing
 *   depends on postlogd; it is there for programs that speak the postlog
 *   socket. Master serves the unix-dgram entry as a unix stream socket at the
 *   same path (queue_directory/public/postlog): each connection sends
 *   newline-terminated records, and each record becomes one line appended to
 *   maillog_file, whole, with the writer the daemons use:
 *
 *   - "Mon DD HH:MM:SS host program[pid]: text" is written as it is;
 *   - "program[pid]: text" gets the time and host in front;
 *   - other text is logged as "$syslog_name/postlog: text".
 *
 *   A record longer than line_length_limit bytes is cut there, with a
 *   warning. Empty records are ignored.
 *
 * CONFIGURATION PARAMETERS
 *   maillog_file ("")                 where records go ("" = standard error,
 *                                     which master collects).
 *   line_length_limit (2048)          the longest record kept, in bytes.
 *   postlogd_watchdog_timeout (10s)   a connection stalled inside a record
 *                                     this long is dropped.
 *   syslog_name (postfix), myhostname the tag and host of untagged records.
 *
 * SECURITY
 *   The socket is public: any local user may log through it, as with
 *   Postfix's postlog socket. Records cannot inject extra lines (control
 *   characters become spaces) and are bounded by line_length_limit, so one
 *   client cannot make postlogd hold more than one limit's worth per connection.
 */
import type { Socket } from 'node:net';
import { logSink, type ServiceMain } from '@postern/core';
import { postlogLine, RecordSplitter, type SplitRecord } from './postlogd-record.js';

export const main: ServiceMain = async (ctx) => {
  const { config, log } = ctx;
  const limit = Math.max(1, config.int('line_length_limit'));
  const watchdog = config.time('postlogd_watchdog_timeout') * 1000;
  const file = config.get('maillog_file');
  const sink = logSink(file);
  const host = (config.get('myhostname') || '').split('.')[0] || 'localhost';
  const tag = `${config.get('syslog_name') || 'postfix'}/postlog`;
  const sockets = new Set<Socket>();

  const write = (records: SplitRecord[]) => {
    for (const r of records) {
      if (r.cutFrom !== undefined) log.warn(`record too long: ${r.cutFrom} bytes; truncated to line_length_limit=${limit}`);
      if (r.text.trim() === '') continue;
      sink.write(postlogLine(r.text, host, tag));
    }
  };

  ctx.onConnection((socket) => {
    sockets.add(socket);
    const splitter = new RecordSplitter(limit);
    let stall: NodeJS.Timeout | undefined;
    const arm = () => {
      if (stall) clearTimeout(stall);
      stall = undefined;
      if (splitter.pending && watchdog > 0) {
        stall = setTimeout(() => {
          log.warn('connection stalled inside a record: postlogd_watchdog_timeout exceeded');
          socket.destroy();
        }, watchdog);
        stall.unref();
      }
    };
    socket.on('data', (data: Buffer) => {
      write(splitter.push(data));
      arm();
    });
    socket.on('end', () => {
      write(splitter.end());
      socket.end();
    });
    socket.on('error', (err) => log.debug(`postlog connection: ${err.message}`));
    socket.on('close', () => {
      if (stall) clearTimeout(stall);
      sockets.delete(socket);
    });
  });

  return {
    async stop() {
      for (const s of sockets) s.end();
      await sink.flush();
    },
  };
};
