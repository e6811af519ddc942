/**
 * getopt(3) as Postfix's commands use it: single-letter options, some taking
 * an argument ("c:" in the spec), clustered (-vc dir) or separate.
 */
export interface Parsed {
  readonly opts: [string, string | true][];
  readonly args: string[];
}

export function getopt(argv: readonly string[], spec: string): Parsed {
  const takesArg = new Set<string>();
  const known = new Set<string>();
  for (let i = 0; i < spec.length; i++) {
    const c = spec[i]!;
    if (c === ':') continue;
    known.add(c);
    if (spec[i + 1] === ':') takesArg.add(c);
  }
  const opts: [string, string | true][] = [];
  let i = 0;
  for (; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      i++;
      break;
    }
    if (!a.startsWith('-') || a === '-') break;
    for (let j = 1; j < a.length; j++) {
      const c = a[j]!;
      if (!known.has(c)) throw new Error(`invalid option -- '${c}'`);
      if (takesArg.has(c)) {
        const rest = a.slice(j + 1);
        const val = rest !== '' ? rest : argv[++i];
        if (val === undefined) throw new Error(`option requires an argument -- '${c}'`);
        opts.push([c, val]);
        break;
      }
      opts.push([c, true]);
    }
  }
  return { opts, args: argv.slice(i) };
}

export function optValue(p: Parsed, c: string): string | undefined {
  const found = p.opts.filter(([k]) => k === c).pop();
  return found && typeof found[1] === 'string' ? found[1] : undefined;
}

export function hasOpt(p: Parsed, c: string): boolean {
  return p.opts.some(([k]) => k === c);
}

export function optValues(p: Parsed, c: string): string[] {
  return p.opts.filter(([k, v]) => k === c && typeof v === 'string').map(([, v]) => v as string);
}
