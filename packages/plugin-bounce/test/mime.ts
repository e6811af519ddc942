/**
 * A small, strict reader of the notices for the tests (RFC 5322 headers,
 * RFC 2046 multipart bodies, RFC 3464 field groups), used beside mailparser,
 * which folds message/delivery-status into its text.
 */
import assert from 'node:assert/strict';

export interface Entity {
  /** Lower-case field name -> unfolded values, in order. */
  readonly headers: Map<string, string[]>;
  readonly body: string;
}

export function header(e: Entity, name: string): string | undefined {
  return e.headers.get(name.toLowerCase())?.[0];
}

/** Splits an entity into its unfolded header fields and its body. */
export function parseEntity(text: string): Entity {
  const headers = new Map<string, string[]>();
  const lines = text.split('\n');
  let i = 0;
  let last: { name: string; index: number } | undefined;
  for (; i < lines.length; i++) {
    const line = lines[i] as string;
    if (line === '') {
      i++;
      break;
    }
    if (/^[ \t]/.test(line)) {
      assert.ok(last, `continuation line without a header: ${JSON.stringify(line)}`);
      const list = headers.get(last.name) as string[];
      list[last.index] = `${list[last.index]} ${line.trim()}`;
      continue;
    }
    const m = /^([!-9;-~]+):[ \t]?(.*)$/.exec(line);
    assert.ok(m, `not a header line: ${JSON.stringify(line)}`);
    const name = (m[1] as string).toLowerCase();
    const list = headers.get(name) ?? [];
    list.push(m[2] as string);
    headers.set(name, list);
    last = { name, index: list.length - 1 };
  }
  return { headers, body: lines.slice(i).join('\n') };
}

/** "type/sub; a=b; c=\"d\"" -> { type, params }. */
export function contentType(value: string | undefined): { type: string; params: Record<string, string> } {
  assert.ok(value, 'missing Content-Type');
  const [type, ...rest] = value.split(';');
  const params: Record<string, string> = {};
  for (const p of rest) {
    const m = /^\s*([^=\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^\s;]+))\s*$/.exec(p);
    if (m) params[(m[1] as string).toLowerCase()] = m[2] ?? (m[3] as string);
  }
  return { type: (type as string).trim().toLowerCase(), params };
}

/** The body parts of a multipart body (RFC 2046 section 5.1.1); asserts the close delimiter. */
export function splitMultipart(body: string, boundary: string): Entity[] {
  const delim = `--${boundary}`;
  const lines = body.split('\n');
  const parts: string[][] = [];
  let current: string[] | undefined;
  let closed = false;
  for (const line of lines) {
    if (line === delim) {
      if (current) parts.push(current);
      current = [];
    } else if (line === `${delim}--`) {
      if (current) parts.push(current);
      current = undefined;
      closed = true;
      break;
    } else if (current) {
      current.push(line);
    }
  }
  assert.ok(closed, 'multipart body without its close delimiter');
  // Splitting on line ends has already taken the line break that belongs to each delimiter.
  return parts.map((p) => parseEntity(p.join('\n')));
}

/** The field groups of a message/delivery-status body: [per-message, per-recipient...]. */
export function dsnGroups(body: string): Map<string, string>[] {
  const groups: Map<string, string>[] = [];
  for (const block of body.split(/\n\n+/)) {
    if (block.trim() === '') continue;
    const e = parseEntity(`${block}\n`);
    const g = new Map<string, string>();
    for (const [k, v] of e.headers) g.set(k, v[0] as string);
    groups.push(g);
  }
  return groups;
}

export interface Report {
  readonly top: Entity;
  readonly boundary: string;
  readonly parts: Entity[];
  readonly text: string;
  readonly perMessage: Map<string, string>;
  readonly perRecipient: Map<string, string>[];
  readonly original: Entity;
}

/** Reads a notice as RFC 3464 lays it out, asserting its structure. */
export function readReport(text: string): Report {
  const top = parseEntity(text);
  const ct = contentType(header(top, 'content-type'));
  assert.equal(ct.type, 'multipart/report');
  assert.equal(ct.params['report-type'], 'delivery-status');
  const boundary = ct.params.boundary as string;
  assert.ok(boundary, 'no boundary');
  const parts = splitMultipart(top.body, boundary);
  assert.equal(parts.length, 3, 'three body parts');
  const [text1, status, original] = parts as [Entity, Entity, Entity];
  assert.equal(contentType(header(text1, 'content-type')).type, 'text/plain');
  assert.match(contentType(header(status, 'content-type')).type, /^message\/(global-)?delivery-status$/);
  const groups = dsnGroups(status.body);
  assert.ok(groups.length >= 2, 'per-message and per-recipient fields');
  return {
    top,
    boundary,
    parts,
    text: text1.body,
    perMessage: groups[0] as Map<string, string>,
    perRecipient: groups.slice(1),
    original,
  };
}
