// The hit-path comparison's arithmetic: per-row medians over interleaved runs, the ratios
// between memfront and its baselines, and issue 18's targets judged met or not. Pure: the
// bench measures, this decides, so the rules can be read (and tested) on their own.

import { median } from './stats.js';
import type { RunFigures } from './wrk-output.js';

export type HitRowId = 'memfront-identity' | 'memfront-gzip' | 'bare' | 'bare-distinct' | 'nginx-identity' | 'varnish-identity' | 'varnish-gzip' | 'varnish-gunzip';

export const HIT_ROWS: readonly { id: HitRowId; label: string }[] = [
  { id: 'memfront-identity', label: 'memfront, identity' },
  { id: 'memfront-gzip', label: 'memfront, gzip client (stored gzip as-is)' },
  { id: 'bare', label: 'bare Node server, constant body (ceiling)' },
  // Context for the identity rows: as many distinct bodies as memfront serves, one per URL.
  { id: 'bare-distinct', label: 'bare Node server, one body per URL' },
  { id: 'nginx-identity', label: 'nginx srcache+memc, 1 worker, identity' },
  { id: 'varnish-identity', label: 'Varnish, identity (stored identity)' },
  { id: 'varnish-gzip', label: 'Varnish, gzip client (stored gzip as-is)' },
  // memfront's own arrangement (gzip stored, identity clients too): Varnish unzips every answer.
  { id: 'varnish-gunzip', label: 'Varnish, identity client of gzip storage' },
];

export const KB10 = 10 * 1024;
export const KB100 = 100 * 1024;

/** One wrk run against one row, with what the bench measured around it. */
export interface RunMeasure extends RunFigures {
  /** Peak RSS of the server's own processes (memfront, nginx master+worker, varnishd+child). */
  serverRssPeakBytes?: number;
  /** Peak RSS of the memcached the server uses, when it has one. */
  companionRssPeakBytes?: number;
  /** CPU time (utime+stime) of the server's processes and its memcached over the run. */
  cpuSeconds?: number;
  /** The utime part of cpuSeconds: their own code; the rest is the kernel working for them. */
  userSeconds?: number;
  /** Requests the origin answered during the run: each one a miss. */
  backendRequests: number;
  /** memfront's own hit counter delta, when /metrics answered. */
  countedHits?: number;
  /** Busy share of the server's core and of wrk's core over the run (0..1). */
  serverCoreBusy?: number;
  wrkCoreBusy?: number;
  /** Share of the server's core in softirq (network work charged to no process; on loopback mostly this run's). */
  serverCoreSoftirq?: number;
  /** Share of the server's core used by processes other than the server's, softirq aside (0..1): noise. */
  serverCoreOthers?: number;
  /** wrk's own CPU over the run, 1 = one core: near 1, wrk was the limit. */
  wrkCpuShare?: number;
  /** Share of wrk's core used by others than wrk and the bench itself, softirq aside (0..1): noise. */
  wrkCoreOthers?: number;
  /** Earlier attempts at this run thrown away because other processes disturbed them. */
  discardedAttempts?: number;
}

export type RowStatus = 'ok' | 'not installed' | 'failed';

export interface RowResult {
  id: HitRowId;
  label: string;
  status: RowStatus;
  /** Why not installed / failed, or the version that ran. */
  detail?: string;
  /** Body bytes of one answer as the warm-up saw it, and its Content-Encoding. */
  bytesPerResponse?: number;
  contentEncoding?: string;
  runs: RunMeasure[];
}

export interface RowSummary {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  runsRps: number[];
  /** Highest over the runs. */
  serverRssPeakBytes?: number;
  companionRssPeakBytes?: number;
  /** Median over the runs of CPU time / requests, in microseconds. */
  cpuUsPerRequest?: number;
  /** The same of user CPU time alone. */
  userUsPerRequest?: number;
  backendRequests: number;
  errors: number;
  non2xx: number;
  /** Requests memfront counted as hits / requests wrk made, over all runs (memfront rows only). */
  hitShare?: number;
}

function defined(xs: (number | undefined)[]): number[] {
  return xs.filter((x): x is number => x !== undefined && Number.isFinite(x));
}

function maxOf(xs: (number | undefined)[]): number | undefined {
  const d = defined(xs);
  return d.length ? Math.max(...d) : undefined;
}

function usPerRequest(r: RunMeasure, seconds: number | undefined): number | undefined {
  return seconds !== undefined && r.requests > 0 ? (seconds * 1e6) / r.requests : undefined;
}

/** Medians over the runs (the interleaving makes each run one sample of the same drift). */
export function summariseRow(row: RowResult): RowSummary | undefined {
  if (row.status !== 'ok' || row.runs.length === 0) return undefined;
  const runs = row.runs;
  const cpu = defined(runs.map((r) => usPerRequest(r, r.cpuSeconds)));
  const user = defined(runs.map((r) => usPerRequest(r, r.userSeconds)));
  const requests = runs.reduce((s, r) => s + r.requests, 0);
  const counted = runs.map((r) => r.countedHits);
  return {
    rps: median(runs.map((r) => r.rps)),
    p50Ms: median(runs.map((r) => r.p50Ms)),
    p99Ms: median(runs.map((r) => r.p99Ms)),
    runsRps: runs.map((r) => r.rps),
    serverRssPeakBytes: maxOf(runs.map((r) => r.serverRssPeakBytes)),
    companionRssPeakBytes: maxOf(runs.map((r) => r.companionRssPeakBytes)),
    cpuUsPerRequest: cpu.length ? median(cpu) : undefined,
    userUsPerRequest: user.length ? median(user) : undefined,
    backendRequests: runs.reduce((s, r) => s + r.backendRequests, 0),
    errors: runs.reduce((s, r) => s + r.errors, 0),
    non2xx: runs.reduce((s, r) => s + r.non2xx, 0),
    hitShare: counted.every((c) => c !== undefined) && requests > 0 ? (counted as number[]).reduce((s, c) => s + c, 0) / requests : undefined,
  };
}

/** One body size's rows: the summaries of those that ran, and why the others did not. */
export interface SizeResult {
  size: number;
  rows: RowResult[];
  /** Alternating short slices of a target's two rows, after the rounds (--slices). */
  slices?: SlicePair[];
}

/**
 * A target's two rows measured in alternating short slices (A B, B A, A B, ...): the machine's
 * phases, which last tens of seconds here and swing a server's req/s by 2x, fall on both rows
 * of a pair alike, where a row's 10 s runs minutes apart may land in different phases.
 */
export interface SlicePair {
  of: HitRowId;
  over: HitRowId;
  /** req/s of each slice pair: [of, over]. */
  rps: [number, number][];
  /** CPU us per request of each slice pair: [of, over], when measured. */
  cpuUs: [number | undefined, number | undefined][];
}

/** The pairs issue 18's ratio targets compare, by body size. */
export const SLICE_TARGETS: readonly { size: number; of: HitRowId; over: HitRowId }[] = [
  { size: KB10, of: 'memfront-identity', over: 'varnish-identity' },
  { size: KB10, of: 'memfront-identity', over: 'bare' },
  // The ceiling of the first: Node's own server against Varnish, in the same alternation.
  { size: KB10, of: 'bare-distinct', over: 'varnish-identity' },
  { size: KB100, of: 'memfront-gzip', over: 'varnish-gzip' },
  { size: KB100, of: 'memfront-identity', over: 'varnish-identity' },
  { size: KB100, of: 'memfront-identity', over: 'nginx-identity' },
];

export interface SliceRatio {
  /** Median of the slice pairs' own req/s ratios (of / over), and their range. */
  median: number;
  min: number;
  max: number;
  /** Median of the pairs' CPU ratios, of's CPU per request over over's (higher: memfront costs more). */
  cpuMedian?: number;
  pairs: number;
}

export function sliceRatio(p: SlicePair): SliceRatio | undefined {
  const r = p.rps.filter(([a, b]) => a > 0 && b > 0).map(([a, b]) => a / b);
  if (r.length === 0) return undefined;
  const c = p.cpuUs.filter((x): x is [number, number] => x[0] !== undefined && x[1] !== undefined && x[0] > 0 && x[1] > 0).map(([a, b]) => a / b);
  return { median: median(r), min: Math.min(...r), max: Math.max(...r), cpuMedian: c.length ? median(c) : undefined, pairs: r.length };
}

function slicesOf(sizes: readonly SizeResult[], size: number, of: HitRowId, over: HitRowId): SliceRatio | undefined {
  const p = sizes.find((x) => x.size === size)?.slices?.find((x) => x.of === of && x.over === over);
  return p ? sliceRatio(p) : undefined;
}

function rowOf(s: SizeResult | undefined, id: HitRowId): { summary?: RowSummary; runs: RunMeasure[]; why?: string } {
  const row = s?.rows.find((r) => r.id === id);
  if (!s) return { runs: [], why: 'size not measured' };
  if (!row) return { runs: [], why: 'row not measured' };
  const summary = summariseRow(row);
  if (summary) return { summary, runs: row.runs };
  return { runs: [], why: row.status === 'ok' ? 'no runs' : `${row.status}${row.detail ? `: ${row.detail}` : ''}` };
}

export interface Ratio {
  size: number;
  of: HitRowId;
  over: HitRowId;
  /** of.rps / over.rps; undefined when either row did not run. */
  value?: number;
  /**
   * over's CPU per request / of's: the same comparison from CPU cost instead of throughput.
   * Other processes on the cores lower req/s far more than they change CPU per request, so on
   * a busy machine this is the steadier of the two (it leaves out softirq network work).
   */
  cpuValue?: number;
  /** The same from user CPU time alone: the servers' own code, without the kernel's sending. */
  userValue?: number;
  /**
   * The median of the rounds' own ratios (run i of `of` over run i of `over`, which ran minutes
   * apart at most): drift in the machine's load over the whole bench cancels out of each.
   */
  paired?: number;
  why?: string;
}

const RATIO_PAIRS: readonly [HitRowId, HitRowId][] = [
  ['memfront-identity', 'bare'],
  ['memfront-gzip', 'bare'],
  ['memfront-identity', 'bare-distinct'],
  ['memfront-identity', 'nginx-identity'],
  ['memfront-identity', 'varnish-identity'],
  ['memfront-gzip', 'varnish-gzip'],
  ['memfront-identity', 'varnish-gunzip'],
];

function ratio(sizes: readonly SizeResult[], size: number, of: HitRowId, over: HitRowId): Ratio {
  const s = sizes.find((x) => x.size === size);
  const a = rowOf(s, of);
  const b = rowOf(s, over);
  if (!a.summary) return { size, of, over, why: `${of}: ${a.why}` };
  if (!b.summary) return { size, of, over, why: `${over}: ${b.why}` };
  if (!(b.summary.rps > 0)) return { size, of, over, why: `${over}: 0 req/s` };
  // A cost per request: the baseline's over memfront's, so that higher is better for memfront too.
  const byCost = (pick: (s: RowSummary) => number | undefined) => {
    const ca = pick(a.summary!);
    const cb = pick(b.summary!);
    return ca && cb ? cb / ca : undefined;
  };
  return {
    size, of, over,
    value: a.summary.rps / b.summary.rps,
    cpuValue: byCost((x) => x.cpuUsPerRequest),
    userValue: byCost((x) => x.userUsPerRequest),
    paired: pairedRatio(a.runs, b.runs),
  };
}

/** Round by round: undefined unless both rows kept every round. */
function pairedRatio(of: readonly RunMeasure[], over: readonly RunMeasure[]): number | undefined {
  if (of.length === 0 || of.length !== over.length || over.some((r) => !(r.rps > 0))) return undefined;
  return median(of.map((r, i) => r.rps / over[i].rps));
}

export function hitRatios(sizes: readonly SizeResult[]): Ratio[] {
  return sizes.flatMap((s) => RATIO_PAIRS.map(([of, over]) => ratio(sizes, s.size, of, over)));
}

export interface TargetCheck {
  id: string;
  /** The target in words, as issue 18 states it. */
  target: string;
  measured?: number;
  /** The measured value in words (with the row it comes from). */
  measuredText: string;
  /** true met, false not met, undefined not measurable here (and why). */
  met: boolean | undefined;
  why?: string;
  /** The same target from alternating slices (--slices), beside the verdict of the rounds. */
  slices?: { text: string; met: boolean };
  /**
   * The bench's bare Node server put in memfront's place, from the same run: whether Node's
   * own HTTP server, with no cache behind it, reaches the target. Where it does not, what stands
   * in the way is measured beside the verdict. Only for targets a bare row does the same work for.
   */
  ceiling?: { text: string; reached: boolean };
}

export interface TargetLimits {
  p99Ms: number;
  /** The concurrency the p99 limit is stated at. */
  p99Connections: number;
  rssBytes: number;
}

export const HIT_LIMITS: TargetLimits = { p99Ms: 5, p99Connections: 50, rssBytes: 150e6 };

function ratioTarget(id: string, target: string, r: Ratio, atLeast: number, sl?: SliceRatio): TargetCheck {
  const slices = sl && { text: `${sl.median.toFixed(2)}x (${sl.min.toFixed(2)}-${sl.max.toFixed(2)}, ${sl.pairs} pairs)`, met: sl.median >= atLeast };
  if (r.value === undefined) return { id, target, measuredText: 'not measured', met: undefined, why: r.why, slices };
  const also = [r.cpuValue === undefined ? '' : `by CPU per request: ${r.cpuValue.toFixed(2)}x`, r.paired === undefined ? '' : `rounds' own ratios: median ${r.paired.toFixed(2)}x`].filter(Boolean);
  return { id, target, measured: r.value, measuredText: `${r.value.toFixed(2)}x${also.length ? ` (${also.join('; ')})` : ''}`, met: r.value >= atLeast, slices };
}

const MEMFRONT_ROWS: readonly HitRowId[] = ['memfront-identity', 'memfront-gzip'];

/** The worst value of `pick` over every memfront row of every size, and where it was. */
function worstMemfront(sizes: readonly SizeResult[], pick: (s: RowSummary) => number | undefined): { value: number; where: string; size: number } | undefined {
  let worst: { value: number; where: string; size: number } | undefined;
  for (const s of sizes) {
    for (const id of MEMFRONT_ROWS) {
      const sum = rowOf(s, id).summary;
      const v = sum ? pick(sum) : undefined;
      if (v !== undefined && (worst === undefined || v > worst.value)) worst = { value: v, where: `${id} at ${sizeLabel(s.size)}`, size: s.size };
    }
  }
  return worst;
}

export function sizeLabel(size: number): string {
  return size % 1024 === 0 ? `${size / 1024} KB` : `${size} B`;
}

/** The CPU a memfront answer costs over the baseline's (at most `atMost` times): from the CPU per request of both rows. */
function cpuTarget(id: string, target: string, r: Ratio, atMost: number, sl?: SliceRatio): TargetCheck {
  const slices = sl?.cpuMedian === undefined ? undefined : { text: `${sl.cpuMedian.toFixed(2)}x the CPU per hit (${sl.pairs} pairs)`, met: sl.cpuMedian <= atMost };
  if (r.value === undefined) return { id, target, measuredText: 'not measured', met: undefined, why: r.why, slices };
  if (r.cpuValue === undefined) return { id, target, measuredText: 'not measured', met: undefined, why: 'no CPU figures (not Linux)', slices };
  const times = 1 / r.cpuValue;
  const user = r.userValue === undefined ? '' : ` (user CPU alone: ${(1 / r.userValue).toFixed(2)}x)`;
  return { id, target, measured: times, measuredText: `${times.toFixed(2)}x the CPU per hit${user}`, met: times <= atMost, slices };
}

const BARE_ROWS: readonly { id: HitRowId; what: string }[] = [
  { id: 'bare-distinct', what: 'one body per URL' },
  { id: 'bare', what: 'constant body' },
];

/** The bare rows' ratio over `over`, judged by the rounds as memfront's is (the slices' shown beside when measured). */
function ratioCeiling(sizes: readonly SizeResult[], size: number, over: HitRowId, atLeast: number): TargetCheck['ceiling'] {
  const parts: string[] = [];
  let reached = false;
  for (const b of BARE_ROWS) {
    const r = ratio(sizes, size, b.id, over);
    if (r.value === undefined) continue;
    const sl = slicesOf(sizes, size, b.id, over);
    parts.push(`${r.value.toFixed(2)}x (${b.what}${sl ? `; slices ${sl.median.toFixed(2)}x` : ''})`);
    if (r.value >= atLeast) reached = true;
  }
  return parts.length ? { text: `the bare Node server in memfront's place: ${parts.join(', ')}`, reached } : undefined;
}

/** The bare rows' p99 at the size of memfront's worst, against the same limit. */
function p99Ceiling(sizes: readonly SizeResult[], size: number, limitMs: number): TargetCheck['ceiling'] {
  const s = sizes.find((x) => x.size === size);
  const parts: string[] = [];
  let reached = false;
  for (const b of BARE_ROWS) {
    const sum = rowOf(s, b.id).summary;
    if (!sum) continue;
    parts.push(`${sum.p99Ms.toFixed(2)} ms (${b.what})`);
    if (sum.p99Ms <= limitMs) reached = true;
  }
  return parts.length ? { text: `the bare Node server at ${sizeLabel(size)}: ${parts.join(', ')}`, reached } : undefined;
}

/** Issue 18's targets; none loosened: each ratio is of medians measured side by side in one run. */
export function evaluateHitTargets(sizes: readonly SizeResult[], connections: number, limits: TargetLimits = HIT_LIMITS): TargetCheck[] {
  const checks: TargetCheck[] = [
    { ...ratioTarget('identity-10k-vs-varnish', '10 KB identity hits: memfront >= 1.0x Varnish identity', ratio(sizes, KB10, 'memfront-identity', 'varnish-identity'), 1.0, slicesOf(sizes, KB10, 'memfront-identity', 'varnish-identity')), ceiling: ratioCeiling(sizes, KB10, 'varnish-identity', 1.0) },
    cpuTarget('identity-10k-cpu-vs-bare', '10 KB identity hits: CPU per hit <= 1.15x the bare Node server\'s', ratio(sizes, KB10, 'memfront-identity', 'bare'), 1.15, slicesOf(sizes, KB10, 'memfront-identity', 'bare')),
    ratioTarget('gzip-100k-vs-varnish', '100 KB gzip-client hits: memfront >= 0.8x Varnish gzip hits', ratio(sizes, KB100, 'memfront-gzip', 'varnish-gzip'), 0.8, slicesOf(sizes, KB100, 'memfront-gzip', 'varnish-gzip')),
    { ...ratioTarget('identity-100k-vs-varnish', '100 KB identity hits: memfront >= 0.9x Varnish identity', ratio(sizes, KB100, 'memfront-identity', 'varnish-identity'), 0.9, slicesOf(sizes, KB100, 'memfront-identity', 'varnish-identity')), ceiling: ratioCeiling(sizes, KB100, 'varnish-identity', 0.9) },
    { ...ratioTarget('identity-100k-vs-nginx', '100 KB identity hits: memfront >= 2x nginx srcache+memc', ratio(sizes, KB100, 'memfront-identity', 'nginx-identity'), 2, slicesOf(sizes, KB100, 'memfront-identity', 'nginx-identity')), ceiling: ratioCeiling(sizes, KB100, 'nginx-identity', 2) },
  ];
  const p99 = worstMemfront(sizes, (s) => s.p99Ms);
  const p99Target = `memfront hit p99 <= ${limits.p99Ms} ms at ${limits.p99Connections} connections, every row`;
  if (p99 === undefined) checks.push({ id: 'p99', target: p99Target, measuredText: 'not measured', met: undefined, why: 'no memfront row ran' });
  else {
    const measuredText = `worst ${p99.value.toFixed(2)} ms (${p99.where})`;
    const ceiling = p99Ceiling(sizes, p99.size, limits.p99Ms);
    // A p99 at another concurrency says nothing about this target either way.
    checks.push(connections === limits.p99Connections
      ? { id: 'p99', target: p99Target, measured: p99.value, measuredText, met: p99.value <= limits.p99Ms, ceiling }
      : { id: 'p99', target: p99Target, measured: p99.value, measuredText, met: undefined, why: `measured at ${connections} connections` });
  }
  const rss = worstMemfront(sizes, (s) => s.serverRssPeakBytes);
  const rssTarget = `memfront RSS under the load <= ${Math.round(limits.rssBytes / 1e6)} MB`;
  checks.push(
    rss === undefined
      ? { id: 'rss', target: rssTarget, measuredText: 'not measured', met: undefined, why: 'no RSS samples (not Linux, or no memfront row ran)' }
      : { id: 'rss', target: rssTarget, measured: rss.value, measuredText: `peak ${(rss.value / 1e6).toFixed(1)} MB (${rss.where})`, met: rss.value <= limits.rssBytes },
  );
  return checks;
}

export function verdict(met: boolean | undefined): string {
  return met === undefined ? 'not measured' : met ? 'met' : 'NOT met';
}
