/**
 * deliver_include(): ":include:/path" in an alias or .forward. The file
 * holds destinations, one or more per line ("#" starts a comment line,
 * and, as forward(5) has it, a "#" after white space or a comma outside
 * quotes starts a comment that runs to the end of the line).
 * It is read with the privileges in force (as that user when running as
 * root); when the file is owned by another non-root user, its commands and
 * files run with that owner's privileges. Destinations in it count as
 * "include" for allow_mail_to_commands and allow_mail_to_files.
 */
import { stat } from 'node:fs/promises';
import { readAsUser } from './local-read.js';
import type { DeliverAttr, LeafResult, LocalRequest } from './local-state.js';
import { deliverTokens, splitDestinations } from './local-token.js';

/** The line without a trailing "# comment" (a "#" after white space or "," outside quotes). */
export function stripComment(line: string): string {
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i];
    if (c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (c === '#' && !quoted && (i === 0 || /[\s,]/.test(line[i - 1]!))) return line.slice(0, i);
  }
  return line;
}

export function destinationsOf(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split('\n')) {
    const t = stripComment(line).trim();
    if (t === '' || t.startsWith('#')) continue;
    out.push(...splitDestinations(t));
  }
  return out;
}

export async function deliverInclude(req: LocalRequest, attr: DeliverAttr, path: string, index: number): Promise<LeafResult[]> {
  if (!path.startsWith('/')) {
    return [{ status: 'bounced', dsn: '5.3.5', reason: `:include:${path} requires an absolute pathname`, address: attr.recipient }];
  }
  if (req.dup.check(`include ${path}`)) return [];
  const read = await readAsUser(path, attr.privs);
  if (read.status !== 'ok') {
    const dsn = read.status === 'missing' ? '5.3.0' : '4.3.0';
    return [{ status: dsn.startsWith('5') ? 'bounced' : 'deferred', dsn, reason: `cannot open include file ${path}: ${read.error}`, address: attr.recipient }];
  }
  let privs = attr.privs;
  try {
    const st = await stat(path);
    if (st.uid !== 0 && privs && st.uid !== privs.uid) privs = { uid: st.uid, gid: st.gid, logname: `uid ${st.uid}` };
  } catch {
    /* read succeeded; keep the privileges in force */
  }
  const child: DeliverAttr = { ...attr, expType: 'include', privs, via: `include ${path}` };
  return deliverTokens(req, child, destinationsOf(read.text), index);
}
