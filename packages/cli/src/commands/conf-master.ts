/**
 * postconf -M, -F and -P: master.cf entries, their fields and their -o
 * parameters, shown and edited as postconf(1) does.
 *
 *   -M [service[/type]...]                 entries (-Mf folded)
 *   -Me service/type=entry                 replace the entry, or append it
 *   -MX service/type, -M# service/type     remove, or comment out, the entry
 *   -F [service[/type[/field]]...]         service/type/field = value
 *   -Fe service/type/field=value           set one field
 *   -P [service[/type[/parameter]]...]     service/type/parameter = value
 *   -Pe service/type/parameter=value       add or replace `-o parameter=value`
 *   -PX service/type/parameter             remove the `-o parameter=...`
 *
 * A missing or `*` part of a request matches anything. Field names are
 * Postfix's: service, type, private, unprivileged, chroot, wakeup,
 * process_limit, command (the command and its arguments). An edited entry
 * is written back in the -Mf layout; a commented-out entry gets `#` before
 * each of its lines. A new -o parameter goes after the last option of the
 * command (Postfix appends it to the end of the line, which is the same
 * place unless the command has non-option arguments).
 */
import { formatMasterEntry, parseMasterCf, physicalLines, splitMasterWords, unbrace, type MasterCfEntry } from '@postern/core';

/** The field names of -F, in master.cf order. */
export const MASTER_FIELDS = ['service', 'type', 'private', 'unprivileged', 'chroot', 'wakeup', 'process_limit', 'command'] as const;

export class MasterFatal extends Error {}

export interface MasterShow {
  readonly fold: boolean;
  readonly noNames: boolean;
  readonly noValues: boolean;
  /** $name expansion (-x) in the context of one service, or undefined. */
  readonly expand?: (value: string, service: string) => string;
}

type Out = (text: string) => void;
type Warn = (text: string) => void;

/** A request's parts, undefined where it is a wildcard. */
function requestParts(request: string): (string | undefined)[] {
  return request.split('/').map((p) => (p === '' || p === '*' ? undefined : p));
}

function matches(e: MasterCfEntry, service: string | undefined, type: string | undefined): boolean {
  return (service === undefined || e.name === service) && (type === undefined || e.type === type);
}

/** The -o options of an entry's argv with their word positions (the daemon's getopt view). */
interface OptionScan {
  readonly params: { name: string; value: string; start: number; count: number }[];
  /** Index of the first word after the options. */
  readonly end: number;
}

const OPTIONS_WITH_VALUE = new Set(['i', 'm', 'n', 'r', 's', 't']);

function scanOptions(argv: readonly string[]): OptionScan {
  const params: OptionScan['params'] = [];
  let k = 0;
  for (; k < argv.length; k++) {
    const w = argv[k] as string;
    if (w === '--' || !w.startsWith('-') || w === '-') break;
    if (w === '-o' || w.startsWith('-o')) {
      const joined = w.length > 2;
      const raw = joined ? w.slice(2) : argv[k + 1];
      if (raw === undefined) break;
      const text = unbrace(raw);
      const eq = text.indexOf('=');
      if (eq > 0) params.push({ name: text.slice(0, eq).trim(), value: text.slice(eq + 1).trim(), start: k, count: joined ? 1 : 2 });
      if (!joined) k++;
      continue;
    }
    if (w.length === 2 && OPTIONS_WITH_VALUE.has(w[1] as string)) k++;
  }
  return { params, end: k };
}

function fieldValue(e: MasterCfEntry, field: number): string {
  if (field < 7) return e.fields[field] as string;
  // The command field: the command and its arguments, as postconf -M prints them.
  return formatMasterEntry(e).replace(/^(\S+\s+){7}/, '');
}

/**
 * A line as postconf prints it (pcf_print_line): white space between words
 * made one space; with fold, a word that would reach column 80 starts a new
 * line indented by four spaces.
 */
export function printLine(text: string, fold: boolean): string {
  let out = '';
  let len = 0;
  for (const word of text.split(/[ \t\r\n]+/).filter(Boolean)) {
    if (len > 0) {
      if (!fold || len + word.length < 80) {
        out += ' ';
        len += 1;
      } else {
        out += '\n    ';
        len = 4;
      }
    }
    out += word;
    len += word.length;
  }
  return `${out}\n`;
}

function label(name: string, value: string, o: MasterShow): string {
  if (o.noValues) return `${name}\n`;
  return printLine(o.noNames ? value : `${name} = ${value}`, o.fold);
}

/** postconf -M [service[/type]...]. */
export function showEntries(master: readonly MasterCfEntry[], requests: readonly string[], o: MasterShow, out: Out, warn: Warn): void {
  const show = (e: MasterCfEntry) => {
    const shown = o.expand ? { ...e, argv: e.argv.map((w) => o.expand!(w, e.name)) } : e;
    out(`${formatMasterEntry(shown, { fold: o.fold })}\n`);
  };
  if (requests.length === 0) {
    master.forEach(show);
    return;
  }
  const chosen = new Set<MasterCfEntry>();
  for (const request of requests) {
    const [service, type] = requestParts(request);
    const hits = master.filter((e) => matches(e, service, type));
    if (hits.length === 0) warn(`unmatched request: "${request}"`);
    for (const h of hits) chosen.add(h);
  }
  for (const e of master) if (chosen.has(e)) show(e);
}

/** postconf -F [service[/type[/field]]...]. */
export function showFields(master: readonly MasterCfEntry[], requests: readonly string[], o: MasterShow, out: Out, warn: Warn): void {
  const parsed = (requests.length === 0 ? ['*'] : requests).map((r) => {
    const [service, type, field] = requestParts(r);
    if (field !== undefined && !(MASTER_FIELDS as readonly string[]).includes(field)) throw new MasterFatal(`invalid service attribute name: "${field}"`);
    return { request: r, service, type, field };
  });
  for (const { request, service, type, field } of parsed) {
    const hits = master.filter((e) => matches(e, service, type));
    if (hits.length === 0 && requests.length > 0) warn(`unmatched request: "${request}"`);
    for (const e of hits) {
      MASTER_FIELDS.forEach((name, i) => {
        if (field !== undefined && field !== name) return;
        const key = `${e.name}/${e.type}/${name}`;
        if (name === 'command' && o.fold && !o.noValues && e.argv[0]?.startsWith('-o')) {
          // -Ff: the command folded as postconf -Mf folds it, each leading -o on a line.
          const shown = o.expand ? { ...e, argv: e.argv.map((w) => o.expand!(w, e.name)) } : e;
          const folded = formatMasterEntry(shown, { fold: true }).replace(/^(\S+\s+){7}/, '');
          out(o.noNames ? `${folded}\n` : `${key} = ${folded}\n`);
          return;
        }
        const value = fieldValue(e, i);
        out(label(key, o.expand ? o.expand(value, e.name) : value, o));
      });
    }
  }
}

/** postconf -P [service[/type[/parameter]]...]. */
export function showParams(master: readonly MasterCfEntry[], requests: readonly string[], o: MasterShow, out: Out, warn: Warn): void {
  for (const request of requests.length === 0 ? ['*'] : requests) {
    const [service, type, param] = requestParts(request);
    let any = false;
    for (const e of master.filter((x) => matches(x, service, type))) {
      const params = new Map(scanOptions(e.argv).params.map((p) => [p.name, p.value]));
      for (const name of [...params.keys()].sort()) {
        if (param !== undefined && name !== param) continue;
        any = true;
        const value = params.get(name) as string;
        out(label(`${e.name}/${e.type}/${name}`, o.expand ? o.expand(value, e.name) : value, o));
      }
    }
    if (!any && requests.length > 0) warn(`unmatched request: "${request}"`);
  }
}

export type MasterEditMode = 'M' | 'F' | 'P';
export type MasterEditOp = 'edit' | 'exclude' | 'comment';

interface Draft {
  fields: string[];
  argv: string[];
}

function render(d: Draft): string[] {
  return formatMasterEntry({ fields: d.fields, argv: d.argv } as unknown as MasterCfEntry, { fold: true }).split('\n');
}

function checkField(name: string, value: string): void {
  const bad = (): never => {
    throw new MasterFatal(`invalid ${name} field "${value}" in "${value}"`);
  };
  switch (name) {
    case 'service':
      if (value === '' || /\s/.test(value)) bad();
      break;
    case 'type':
      if (!['inet', 'unix', 'unix-dgram', 'fifo', 'pass'].includes(value)) bad();
      break;
    case 'private':
    case 'unprivileged':
    case 'chroot':
      if (!['y', 'n', '-'].includes(value)) bad();
      break;
    case 'wakeup':
      if (value !== '-' && !/^\d+\??$/.test(value)) bad();
      break;
    case 'process_limit':
      if (value !== '-' && !/^\d+$/.test(value)) bad();
      break;
    default:
      if (value.trim() === '') throw new MasterFatal('missing command field value');
  }
}

/** The text split into master.cf words, or a fatal error in Postfix's words. */
function words(text: string): string[] {
  const w = splitMasterWords(text);
  if (!Array.isArray(w)) throw new MasterFatal(w.error);
  return w;
}

/**
 * Applies -Me/-MX/-M#/-Fe/-Pe/-PX to master.cf text; returns the new text.
 * Every argument is checked before anything is changed.
 */
export function editMaster(text: string, file: string, mode: MasterEditMode, op: MasterEditOp, args: readonly string[], warn: Warn): string {
  const lines = physicalLines(text);
  const entries = parseMasterCf(text, file);
  const drafts = new Map<MasterCfEntry, Draft>();
  const removed = new Set<MasterCfEntry>();
  const commented = new Set<MasterCfEntry>();
  const appended: Draft[] = [];
  const draftOf = (e: MasterCfEntry): Draft => {
    let d = drafts.get(e);
    if (!d) drafts.set(e, (d = { fields: [...e.fields], argv: [...e.argv] }));
    return d;
  };
  const find = (service: string, type: string) => entries.find((e) => e.name === service && e.type === type && !removed.has(e));

  for (const arg of args) {
    const eq = op === 'edit' ? arg.indexOf('=') : -1;
    if (op === 'edit' && eq < 0) throw new MasterFatal(`missing '=' after attribute name: "${arg}"`);
    const key = eq < 0 ? arg : arg.slice(0, eq);
    const value = eq < 0 ? '' : arg.slice(eq + 1);
    const parts = key.split('/');
    if (mode === 'M') {
      if (parts.length !== 2 || parts.some((p) => p === '' || p === '*')) throw new MasterFatal('-Me, -MX or -M# requires service_name/type');
      const hit = find(parts[0] as string, parts[1] as string);
      if (op === 'edit') {
        const w = words(value);
        if (w.length < 8) throw new MasterFatal(`bad field count: "${arg}"`);
        MASTER_FIELDS.forEach((f, i) => checkField(f, w[i] as string));
        const d: Draft = { fields: w.slice(0, 8), argv: w.slice(8) };
        if (hit) drafts.set(hit, d);
        else appended.push(d);
      } else if (hit) (op === 'exclude' ? removed : commented).add(hit);
      continue;
    }
    if (parts.length !== 3 || parts.some((p) => p === '' || p === '*')) {
      throw new MasterFatal(mode === 'F' ? '-Fe or -FX requires service_name/type/field_name' : '-Pe or -PX requires service_name/type/parameter');
    }
    const [service, type, name] = parts as [string, string, string];
    const hit = find(service, type);
    if (mode === 'F') {
      const index = (MASTER_FIELDS as readonly string[]).indexOf(name);
      if (index < 0) throw new MasterFatal(`invalid service attribute name: "${name}"`);
      checkField(name, value);
      if (!hit) {
        warn(`unmatched service_name/type: "${arg}"`);
        continue;
      }
      const d = draftOf(hit);
      if (index < 7) d.fields[index] = value;
      else {
        const w = words(value);
        d.fields[7] = w[0] as string;
        d.argv = w.slice(1);
      }
      continue;
    }
    if (op === 'edit' && /\s/.test(value)) throw new MasterFatal('-Pe does not accept whitespace in parameter value');
    if (!hit) {
      warn(`unmatched service_name/type: "${arg}"`);
      continue;
    }
    const d = draftOf(hit);
    const scan = scanOptions(d.argv);
    const present = scan.params.filter((p) => p.name === name);
    if (op === 'exclude') {
      for (const p of [...present].reverse()) d.argv.splice(p.start, p.count);
    } else if (present.length > 0) {
      for (const p of [...present].reverse()) d.argv.splice(p.start, p.count, '-o', `${name}=${value}`);
    } else d.argv.splice(scan.end, 0, '-o', `${name}=${value}`);
  }

  const out: string[] = [];
  const byStart = new Map(entries.map((e) => [e.line, e]));
  for (let i = 0; i < lines.length; i++) {
    const e = byStart.get(i + 1);
    if (!e || (!drafts.has(e) && !removed.has(e) && !commented.has(e))) {
      out.push(lines[i] as string);
      continue;
    }
    const range = lines.slice(i, e.endLine);
    let last = e.endLine - 1;
    if (commented.has(e)) out.push(...range.map((l) => `#${l}`));
    else if (!removed.has(e)) {
      // Postfix reads up to the next entry before it writes the edited one: the comment and
      // blank lines inside and right after the entry come out first.
      const loose = (l: string) => l.trim() === '' || l.trimStart().startsWith('#');
      while (last + 1 < lines.length && loose(lines[last + 1] as string)) last++;
      out.push(...lines.slice(i, last + 1).filter(loose), ...render(drafts.get(e) as Draft));
    }
    i = last;
  }
  for (const d of appended) out.push(...render(d));
  return out.length === 0 ? '' : `${out.join('\n')}\n`;
}
