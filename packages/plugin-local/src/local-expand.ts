/**
 * local_expand(3): $name expansion of forward_path, mailbox_command,
 * luser_relay and command_execution_directory with the recipient's
 * attributes (never main.cf parameters). Recognised: $name, ${name},
 * $(name), ${name?text}, ${name:text}, ${name?{text}:{text}}, $$. A name
 * with an empty value counts as undefined. Every substituted value is
 * passed through `filter` (forward_expansion_filter or
 * command_expansion_filter): characters not in the filter become "_".
 */

export type ExpandAttrs = Readonly<Record<string, string | undefined>>;

/** Replaces every character of `value` that is not in `filter` with "_" (empty filter: none). */
export function applyFilter(value: string, filter: string): string {
  if (filter === '') return value;
  let out = '';
  for (const ch of value) out += filter.includes(ch) ? ch : '_';
  return out;
}

/** Expands `template`; returns the result and the names that were referenced. */
export function localExpand(template: string, attrs: ExpandAttrs, filter: string): { text: string; used: Set<string> } {
  const used = new Set<string>();
  const text = expand(template, attrs, filter, used);
  return { text, used };
}

function value(attrs: ExpandAttrs, name: string): string | undefined {
  const v = attrs[name];
  return v === undefined || v === '' ? undefined : v;
}

/** Finds the index of the brace closing the one at `open`. */
function closing(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** "{x}" -> "x" (with surrounding white space trimmed), other text unchanged. */
function unbrace(text: string): string {
  const t = text.trim();
  return t.startsWith('{') && closing(t, 0) === t.length - 1 ? t.slice(1, -1).trim() : text;
}

function expand(template: string, attrs: ExpandAttrs, filter: string, used: Set<string>): string {
  let out = '';
  for (let i = 0; i < template.length; i++) {
    const ch = template[i]!;
    if (ch !== '$') {
      out += ch;
      continue;
    }
    const next = template[i + 1];
    if (next === '$') {
      out += '$';
      i++;
      continue;
    }
    if (next === '{' || next === '(') {
      const close = next === '{' ? closing(template, i + 1) : template.indexOf(')', i + 1);
      if (close < 0) {
        out += template.slice(i);
        break;
      }
      const inner = template.slice(i + 2, close);
      i = close;
      const m = /^([A-Za-z0-9_]+)(?:([?:])([\s\S]*))?$/.exec(inner);
      if (!m) continue;
      const name = m[1]!;
      used.add(name);
      const v = value(attrs, name);
      if (m[2] === undefined) {
        if (v !== undefined) out += applyFilter(v, filter);
      } else if (m[2] === '?') {
        // ${name?{a}:{b}} or ${name?text}
        const rest = m[3]!;
        const t = rest.trimStart();
        let whenSet = rest;
        let whenUnset = '';
        if (t.startsWith('{')) {
          const c = closing(t, 0);
          const after = t.slice(c + 1).trimStart();
          if (c > 0 && after.startsWith(':')) {
            whenSet = t.slice(0, c + 1);
            whenUnset = after.slice(1);
          }
        }
        out += expand(unbrace(v !== undefined ? whenSet : whenUnset), attrs, filter, used);
      } else {
        if (v === undefined) out += expand(unbrace(m[3]!), attrs, filter, used);
      }
      continue;
    }
    const m = /^[A-Za-z0-9_]+/.exec(template.slice(i + 1));
    if (!m) {
      out += '$';
      continue;
    }
    used.add(m[0]);
    const v = value(attrs, m[0]);
    if (v !== undefined) out += applyFilter(v, filter);
    i += m[0].length;
  }
  return out;
}
