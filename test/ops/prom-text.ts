// A strict reader of the Prometheus text exposition format (0.0.4), written from the format's
// description rather than from prom-client, so /metrics is checked by something other than
// the library that wrote it. It throws on the first line that does not fit, naming it.

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface Exposition {
  samples: Sample[];
  /** Family name → counter | gauge | histogram | summary | untyped. */
  types: Map<string, string>;
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = ['counter', 'gauge', 'histogram', 'summary', 'untyped'];

/** A Go ParseFloat value, as Prometheus reads it: NaN and Inf in any case (prom-client writes "Nan"). */
function parseValue(s: string, where: string): number {
  if (/^nan$/i.test(s)) return NaN;
  if (/^\+?inf(inity)?$/i.test(s)) return Infinity;
  if (/^-inf(inity)?$/i.test(s)) return -Infinity;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(s)) throw new Error(`${where}: bad value ${JSON.stringify(s)}`);
  return Number(s);
}

/** `{a="x",b="y\"z"}` → labels, and the index just past `}`. */
function parseLabels(line: string, start: number, where: string): { labels: Record<string, string>; end: number } {
  const labels: Record<string, string> = {};
  let i = start + 1;
  for (;;) {
    if (line[i] === '}') return { labels, end: i + 1 };
    const eq = line.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = line.slice(i, eq);
    if (!LABEL_NAME.test(name)) throw new Error(`${where}: bad label name ${JSON.stringify(name)}`);
    if (line[eq + 1] !== '"') throw new Error(`${where}: label value not quoted`);
    let value = '';
    let j = eq + 2;
    for (; j < line.length && line[j] !== '"'; j++) {
      if (line[j] === '\\') {
        const next = line[++j];
        if (next === 'n') value += '\n';
        else if (next === '\\' || next === '"') value += next;
        else throw new Error(`${where}: bad escape \\${next}`);
      } else {
        value += line[j];
      }
    }
    if (j >= line.length) throw new Error(`${where}: unterminated label value`);
    if (name in labels) throw new Error(`${where}: label ${name} twice`);
    labels[name] = value;
    i = j + 1;
    if (line[i] === ',') i++;
    else if (line[i] !== '}') throw new Error(`${where}: expected "," or "}" after a label`);
  }
}

/** The family a sample belongs to, given the declared types (histogram/summary suffixes). */
function familyOf(name: string, types: Map<string, string>): string | undefined {
  if (types.has(name)) return name;
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (name.endsWith(suffix)) {
      const base = name.slice(0, -suffix.length);
      const t = types.get(base);
      if (t === 'histogram' || (t === 'summary' && suffix !== '_bucket')) return base;
    }
  }
  return undefined;
}

export function parsePrometheusText(text: string): Exposition {
  const samples: Sample[] = [];
  const types = new Map<string, string>();
  const seen = new Set<string>();
  text.split('\n').forEach((line, n) => {
    const where = `line ${n + 1} (${JSON.stringify(line.slice(0, 60))})`;
    if (line.trim() === '') return;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (!m) return; // a plain comment
      if (!NAME.test(m[2])) throw new Error(`${where}: bad metric name`);
      if (m[1] === 'TYPE') {
        if (!TYPES.includes(m[3] ?? '')) throw new Error(`${where}: unknown type`);
        if (types.has(m[2])) throw new Error(`${where}: TYPE given twice`);
        if (samples.some((s) => familyOf(s.name, new Map([[m[2], m[3]]])) === m[2])) throw new Error(`${where}: TYPE after its samples`);
        types.set(m[2], m[3]);
      }
      return;
    }
    const brace = line.indexOf('{');
    const space = line.indexOf(' ');
    const nameEnd = brace >= 0 && (space < 0 || brace < space) ? brace : space;
    if (nameEnd <= 0) throw new Error(`${where}: no value`);
    const name = line.slice(0, nameEnd);
    if (!NAME.test(name)) throw new Error(`${where}: bad metric name`);
    let labels: Record<string, string> = {};
    let rest: string;
    if (line[nameEnd] === '{') {
      const parsed = parseLabels(line, nameEnd, where);
      labels = parsed.labels;
      rest = line.slice(parsed.end);
    } else {
      rest = line.slice(nameEnd);
    }
    const parts = rest.trim().split(/\s+/);
    if (!rest.startsWith(' ') || parts.length < 1 || parts.length > 2) throw new Error(`${where}: expected " value [timestamp]"`);
    const value = parseValue(parts[0], where);
    if (parts[1] !== undefined && !/^-?\d+$/.test(parts[1])) throw new Error(`${where}: bad timestamp`);
    const key = `${name}${JSON.stringify(Object.entries(labels).sort())}`;
    if (seen.has(key)) throw new Error(`${where}: the same series twice`);
    seen.add(key);
    samples.push({ name, labels, value });
  });
  checkHistograms(samples, types);
  return { samples, types };
}

/** Buckets cumulative, ending in le="+Inf" equal to _count, for every histogram series. */
function checkHistograms(samples: Sample[], types: Map<string, string>): void {
  for (const [family, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, Sample[]>();
    for (const s of samples.filter((x) => x.name === `${family}_bucket`)) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${family}_bucket without le`);
      const k = JSON.stringify(Object.entries(rest).sort());
      series.set(k, [...(series.get(k) ?? []), s]);
    }
    for (const [k, buckets] of series) {
      const sorted = [...buckets].sort((a, b) => parseValue(a.labels.le, family) - parseValue(b.labels.le, family));
      for (let i = 1; i < sorted.length; i++) {
        if (sorted[i].value < sorted[i - 1].value) throw new Error(`${family}${k}: buckets not cumulative`);
      }
      const inf = sorted[sorted.length - 1];
      if (inf.labels.le !== '+Inf') throw new Error(`${family}${k}: no +Inf bucket`);
      const labels = Object.fromEntries(JSON.parse(k) as [string, string][]);
      const count = samples.find((s) => s.name === `${family}_count` && sameLabels(s.labels, labels));
      if (!count || count.value !== inf.value) throw new Error(`${family}${k}: _count does not match the +Inf bucket`);
    }
  }
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  return JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
}

/** The sum of a metric's samples whose labels include `where`. */
export function sumOf(e: Exposition, name: string, where: Record<string, string> = {}): number {
  return e.samples
    .filter((s) => s.name === name && Object.entries(where).every(([k, v]) => s.labels[k] === v))
    .reduce((sum, s) => sum + s.value, 0);
}
