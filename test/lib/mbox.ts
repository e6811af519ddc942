/** A strict reader of mbox files as local(8) writes them: From_ lines, >From quoting, a blank line after each message. */
export interface MboxMessage {
  readonly fromLine: string;
  /** The message as written between the From_ line and the separating blank line, >From quoting removed. */
  readonly text: string;
  readonly headers: ReadonlyMap<string, string[]>;
  readonly body: string;
}

export function parseMbox(data: string): MboxMessage[] {
  if (data === '') return [];
  if (!data.startsWith('From ')) throw new Error('mbox does not start with a From_ line');
  const out: MboxMessage[] = [];
  const parts = data.split(/\n(?=From )/);
  parts.forEach((part, i) => {
    // the split took the newline that ended each message but the last
    const raw = i < parts.length - 1 ? `${part}\n` : part;
    const nl = raw.indexOf('\n');
    const fromLine = raw.slice(0, nl);
    if (!raw.endsWith('\n\n')) throw new Error(`message after "${fromLine}" does not end with an empty line`);
    const rest = raw.slice(nl + 1, -1);
    const text = rest.replace(/^>From /gm, 'From ');
    const split = text.indexOf('\n\n');
    const head = split < 0 ? text : text.slice(0, split);
    const body = split < 0 ? '' : text.slice(split + 2);
    const headers = new Map<string, string[]>();
    for (const line of head.replace(/\n[ \t]/g, ' ').split('\n')) {
      const c = line.indexOf(':');
      if (c <= 0) continue;
      const name = line.slice(0, c).toLowerCase();
      headers.set(name, [...(headers.get(name) ?? []), line.slice(c + 1).trim()]);
    }
    out.push({ fromLine, text, headers, body });
  });
  return out;
}

/** parseMbox, or no messages while a delivery is still being written (the last message is incomplete). */
export function parseMboxSettled(data: string): MboxMessage[] {
  try {
    return parseMbox(data);
  } catch {
    return [];
  }
}
