// `npm run bench -- --hits --compare --forward-fill` (or `node dist/bench/hits.js --compare
// --forward-fill`): issue 18's forwarding and cache-fill row sets, memfront beside Varnish,
// nginx and the bare Node forwarders, with ratios and a met / not met line per target.
//
// - Forwarding: every request carries a WordPress session cookie, so every cache passes it to
//   the origin (memfront: bypass), and the origin's 10 KB answer comes back through it.
// - Fill: every request a URL never asked before of a cacheable 50 KB page (a miss storm, as
//   after the purge-all WordPress purge plugins send on every post update); each answer is
//   stored (memfront and Varnish gzip it, as they store pages; nginx srcache stores identity).
//
// As the issue measured: the origin (a bare Node server, its own process) shares CPU 0 with
// each proxy (and its memcached), wrk and this process are on CPU 1; interleaved rounds,
// medians reported. CPU us/req is the proxy's own (and its memcached's), not the origin's.

import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { fmtInt, formatTable } from '../lib/bench-table.js';
import { flagValue, numberFlag } from '../lib/cli-flags.js';
import { busyShare, readCpuStat } from '../lib/cpu-stat.js';
import { leastNoisy, runNoise, shouldRetry } from '../lib/hit-noise.js';
import { markdownTable } from '../lib/hit-tables.js';
import { verdict } from '../lib/hit-targets.js';
import { httpProbe } from '../lib/http-probe.js';
import { pinProcess } from '../lib/pin-process.js';
import { canPin, pinnedSpawn } from '../lib/pinned-spawn.js';
import { startProcSampler, type ProcSampler } from '../lib/proc-sampler.js';
import { startConstantServer, type ConstantServer } from '../lib/start-constant-server.js';
import { median } from '../lib/stats.js';
import { stopChild } from '../lib/stop-child.js';
import { ensureWrk, runWrk } from '../lib/wrk.js';
import { uniquePathsScript } from '../lib/wrk-paths.js';
import { fileURLToPath } from 'node:url';
import { startMemfrontTarget } from './memfront-target.js';
import { nginxAvailability, startNginxSrcache } from './nginx-srcache.js';
import { startVarnish, varnishAvailability } from './varnish.js';
import { MEMFRONT_HIT_CONFIG } from './hit-servers.js';
import { childPort } from '../lib/child-port.js';
import { runFigures, type RunFigures } from '../lib/wrk-output.js';

export const SESSION_COOKIE = 'wordpress_logged_in_0123456789abcdef=admin%7C1700000000%7Cabcdef';
const BARE_PROXY = fileURLToPath(new URL('../lib/bare-proxy-server.js', import.meta.url));

export type SetId = 'forward' | 'fill';
export type ServerId = 'memfront' | 'varnish' | 'nginx' | 'undici' | 'http-proxy' | 'origin';

interface RowDef {
  server: ServerId;
  label: string;
}

const ROWS: Record<SetId, readonly RowDef[]> = {
  forward: [
    { server: 'memfront', label: 'memfront (bypass: session cookie)' },
    { server: 'varnish', label: 'Varnish pass' },
    { server: 'nginx', label: 'nginx proxy_pass, upstream keepalive (srcache skipped)' },
    { server: 'undici', label: 'bare undici Pool server' },
    { server: 'http-proxy', label: 'bare http-proxy server, keep-alive agent' },
    { server: 'origin', label: 'the origin alone (no proxy)' },
  ],
  fill: [
    { server: 'memfront', label: 'memfront (miss, stored gzip)' },
    { server: 'varnish', label: 'Varnish (miss, stored, do_gzip)' },
    { server: 'nginx', label: 'nginx srcache+memc (miss, stored identity)' },
    { server: 'undici', label: 'bare undici Pool server (nothing stored)' },
    { server: 'http-proxy', label: 'bare http-proxy server (nothing stored)' },
    { server: 'origin', label: 'the origin alone (no proxy)' },
  ],
};

/** Issue 18: forwarding at least 1.2x Varnish pass; fill at least 1.0x Varnish. */
export const FORWARD_FILL_TARGETS: Record<SetId, { over: ServerId; atLeast: number; text: string }> = {
  forward: { over: 'varnish', atLeast: 1.2, text: 'forwarding: memfront >= 1.2x Varnish pass' },
  fill: { over: 'varnish', atLeast: 1.0, text: 'cache fill: memfront >= 1.0x Varnish' },
};

export interface FfRun extends RunFigures {
  cpuUsPerRequest?: number;
  rssPeakBytes?: number;
  serverCoreOthers?: number;
  wrkCoreOthers?: number;
}

export interface FfRow {
  set: SetId;
  server: ServerId;
  label: string;
  status: 'ok' | 'not installed' | 'failed';
  detail?: string;
  runs: FfRun[];
}

export interface FfSummary {
  rps: number;
  runsRps: number[];
  p50Ms: number;
  p99Ms: number;
  cpuUsPerRequest?: number;
  rssPeakBytes?: number;
  errors: number;
  non2xx: number;
}

export function summariseFf(row: FfRow): FfSummary | undefined {
  if (row.status !== 'ok' || row.runs.length === 0) return undefined;
  const cpu = row.runs.map((r) => r.cpuUsPerRequest).filter((x): x is number => x !== undefined);
  const rss = row.runs.map((r) => r.rssPeakBytes).filter((x): x is number => x !== undefined);
  return {
    rps: median(row.runs.map((r) => r.rps)),
    runsRps: row.runs.map((r) => r.rps),
    p50Ms: median(row.runs.map((r) => r.p50Ms)),
    p99Ms: median(row.runs.map((r) => r.p99Ms)),
    cpuUsPerRequest: cpu.length ? median(cpu) : undefined,
    rssPeakBytes: rss.length ? Math.max(...rss) : undefined,
    errors: row.runs.reduce((s, r) => s + r.errors, 0),
    non2xx: row.runs.reduce((s, r) => s + r.non2xx, 0),
  };
}

export interface FfRatio {
  set: SetId;
  over: ServerId;
  value?: number;
  cpuValue?: number;
  why?: string;
}

/** memfront over every other row of its set, by req/s (and by CPU per request). */
export function ffRatios(rows: readonly FfRow[]): FfRatio[] {
  const out: FfRatio[] = [];
  for (const set of ['forward', 'fill'] as const) {
    const mine = rows.find((r) => r.set === set && r.server === 'memfront');
    if (!mine) continue;
    const m = summariseFf(mine);
    for (const other of rows.filter((r) => r.set === set && r.server !== 'memfront')) {
      const o = summariseFf(other);
      if (!m) out.push({ set, over: other.server, why: `memfront: ${mine.status}${mine.detail ? `: ${mine.detail}` : ''}` });
      else if (!o) out.push({ set, over: other.server, why: `${other.server}: ${other.status}${other.detail ? `: ${other.detail}` : ''}` });
      else if (!(o.rps > 0)) out.push({ set, over: other.server, why: `${other.server}: 0 req/s` });
      else out.push({ set, over: other.server, value: m.rps / o.rps, cpuValue: m.cpuUsPerRequest && o.cpuUsPerRequest ? o.cpuUsPerRequest / m.cpuUsPerRequest : undefined });
    }
  }
  return out;
}

export interface FfTarget {
  set: SetId;
  target: string;
  measuredText: string;
  met: boolean | undefined;
}

export function ffTargets(rows: readonly FfRow[]): FfTarget[] {
  const ratios = ffRatios(rows);
  const out: FfTarget[] = [];
  for (const set of ['forward', 'fill'] as const) {
    if (!rows.some((r) => r.set === set)) continue;
    const t = FORWARD_FILL_TARGETS[set];
    const r = ratios.find((x) => x.set === set && x.over === t.over);
    if (!r || r.value === undefined) out.push({ set, target: t.text, measuredText: `not measured${r?.why ? ` (${r.why})` : ''}`, met: undefined });
    else out.push({ set, target: t.text, measuredText: `${r.value.toFixed(2)}x${r.cpuValue ? ` (by CPU per request: ${r.cpuValue.toFixed(2)}x)` : ''}`, met: r.value >= t.atLeast });
  }
  return out;
}

interface Options {
  sets: SetId[];
  connections: number;
  durationS: number;
  rounds: number;
  warmupS: number;
  forwardSize: number;
  fillSize: number;
  maxNoise: number;
  attempts: number;
}

function parseOptions(argv: readonly string[]): Options {
  const quick = argv.includes('--quick');
  const sets = (flagValue(argv, 'sets') ?? 'forward,fill').split(',').map((s) => s.trim()) as SetId[];
  for (const s of sets) if (s !== 'forward' && s !== 'fill') throw new Error(`--sets wants forward and/or fill, got ${JSON.stringify(s)}`);
  return {
    sets,
    connections: numberFlag(argv, 'connections', 50),
    durationS: numberFlag(argv, 'duration', quick ? 3 : 5),
    rounds: Math.max(1, numberFlag(argv, 'rounds', quick ? 1 : 2)),
    warmupS: numberFlag(argv, 'warmup', quick ? 1 : 3),
    forwardSize: numberFlag(argv, 'forward-size', 10240),
    fillSize: numberFlag(argv, 'fill-size', 51200),
    maxNoise: numberFlag(argv, 'max-noise', 0.1),
    attempts: Math.max(1, Math.floor(numberFlag(argv, 'attempts', quick ? 1 : 3))),
  };
}

interface Running {
  url: string;
  pids: number[];
  /** Sampled with their children (nginx, varnishd). */
  children: boolean;
  close(): Promise<void>;
}

async function startBareProxy(kind: 'undici' | 'http-proxy', backend: string, cpu: number | undefined): Promise<Running> {
  const child = pinnedSpawn(cpu, process.execPath, [BARE_PROXY, '--kind', kind, '--backend', backend], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await childPort(child, `${kind} server`);
  return { url: `http://127.0.0.1:${port}`, pids: [child.pid ?? -1], children: false, close: () => stopChild(child, 2000) };
}

async function startServer(set: SetId, server: ServerId, origin: ConstantServer, cpu: number | undefined): Promise<Running> {
  const o = { backendUrl: origin.url.replace(/\/$/, ''), cpu };
  switch (server) {
    case 'memfront': {
      const s = await startMemfrontTarget(MEMFRONT_HIT_CONFIG, o);
      return { url: s.url, pids: [s.pid, ...(s.companionPids ?? [])], children: false, close: () => s.close() };
    }
    case 'varnish': {
      // Fill: stored gzip, as memfront stores pages. Forwarding: no do_gzip, which would gzip
      // every passed answer too (and unzip it again for an identity client).
      const s = await startVarnish({ ...o, storeGzip: set === 'fill' });
      return { url: s.url, pids: [s.pid], children: true, close: () => s.close() };
    }
    case 'nginx': {
      const s = await startNginxSrcache(o);
      return { url: s.url, pids: [s.pid, ...(s.companionPids ?? [])], children: true, close: () => s.close() };
    }
    case 'undici':
    case 'http-proxy':
      return startBareProxy(server, o.backendUrl, cpu);
    case 'origin':
      return { url: o.backendUrl, pids: [], children: false, close: async () => {} };
  }
}

function availability(server: ServerId): { ok: true; version: string } | { ok: false; why: string } {
  if (server === 'varnish') {
    const a = varnishAvailability();
    return a.installed ? { ok: true, version: a.version } : { ok: false, why: a.reason };
  }
  if (server === 'nginx') {
    const a = nginxAvailability();
    return a.installed ? { ok: true, version: a.version } : { ok: false, why: a.reason };
  }
  return { ok: true, version: server === 'origin' ? `node:http ${process.version}` : server };
}

function headersFor(set: SetId): Record<string, string> {
  return set === 'forward' ? { Cookie: SESSION_COOKIE } : { 'Accept-Encoding': 'gzip' };
}

let runCounter = 0;

function scriptFor(set: SetId): string | undefined {
  // Fill: a fresh prefix per run (and per row), so no run finds another's entries.
  return set === 'fill' ? uniquePathsScript(`/fill/${process.pid}-${Date.now()}-${runCounter++}/p`) : undefined;
}

/** The row answers as it should: forwarding passes through (BYPASS where said), a fill URL is a miss and then stored. */
async function checkRow(set: SetId, server: ServerId, url: string): Promise<void> {
  if (set === 'forward') {
    const a = await httpProbe(`${url}/fwd/check`, { headers: headersFor(set) });
    if (a.status !== 200) throw new Error(`forwarded GET answered ${a.status}`);
    if (server === 'memfront' && a.headers['x-cache'] !== 'BYPASS') throw new Error(`memfront said X-Cache: ${String(a.headers['x-cache'])}, not BYPASS`);
    return;
  }
  const path = `/fill/check-${Date.now()}`;
  const first = await httpProbe(`${url}${path}`, { headers: headersFor(set) });
  if (first.status !== 200) throw new Error(`fill GET answered ${first.status}`);
  if (server === 'memfront' || server === 'varnish' || server === 'nginx') {
    let again = await httpProbe(`${url}${path}`, { headers: headersFor(set) });
    // memfront and nginx store after the answer is sent: give the write a moment.
    for (let i = 0; i < 20 && again.headers['x-cache'] !== 'HIT'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      again = await httpProbe(`${url}${path}`, { headers: headersFor(set) });
    }
    if (again.headers['x-cache'] !== 'HIT') throw new Error(`a filled URL was not stored (second answer X-Cache: ${String(again.headers['x-cache'])})`);
  }
}

async function measure(set: SetId, url: string, running: Running, o: Options, cpu: { server?: number; wrk?: number }): Promise<FfRun> {
  const samplers = running.pids.map((pid) => startProcSampler(pid, { children: running.children }));
  const before = readCpuStat();
  const self = process.cpuUsage();
  let wrkSampler: ProcSampler | undefined;
  const r = await runWrk({
    url: `${url}/fwd/page`, script: scriptFor(set), headers: headersFor(set), connections: o.connections, threads: 1, durationS: o.durationS, cpu: cpu.wrk,
    onSpawn: (pid) => (wrkSampler = startProcSampler(pid, { intervalMs: 100 })),
  });
  const wrkUsage = wrkSampler?.stop();
  const after = readCpuStat();
  const selfUsed = process.cpuUsage(self);
  const usage = samplers.map((s) => s.stop());
  const known = usage.every((u) => u !== undefined);
  const cpuSeconds = known && usage.length ? usage.reduce((s, u) => s + u!.cpuSeconds, 0) : undefined;
  const wrkBusy = busyShare(before, after, cpu.wrk);
  const wrkSoft = busyShare(before, after, cpu.wrk, 'softirq');
  return {
    ...runFigures(r),
    cpuUsPerRequest: cpuSeconds !== undefined && r.requests > 0 ? (cpuSeconds * 1e6) / r.requests : undefined,
    rssPeakBytes: known && usage.length ? usage[0]!.peakRssBytes : undefined,
    // The origin shares the server core here (its CPU is not sampled), so only wrk's core is
    // judged for noise: what neither wrk nor this process used there, softirq aside.
    serverCoreOthers: undefined,
    wrkCoreOthers: wrkBusy !== undefined && wrkSoft !== undefined && wrkUsage !== undefined && r.durationS > 0
      ? Math.max(0, wrkBusy - wrkSoft - (wrkUsage.cpuSeconds + (selfUsed.user + selfUsed.system) / 1e6) / r.durationS) : undefined,
  };
}

export const FORWARD_FILL_HELP = `node dist/bench/hits.js --compare --forward-fill [options]   (or: npm run bench -- --hits --compare --forward-fill)

Issue 18's forwarding and cache-fill row sets: memfront beside Varnish, nginx, a bare undici
Pool server, a bare http-proxy server and the origin alone. The origin (a bare Node server)
shares CPU 0 with each proxy; wrk is on CPU 1.

  --sets forward,fill   which row sets (default both)
  --connections N       wrk connections (default 50)
  --duration S          seconds per run (default 5; --quick 3)
  --rounds N            interleaved rounds, medians reported (default 2; --quick 1)
  --warmup S            an unmeasured run per row first (default 3; --quick 1)
  --forward-size B      the forwarded answer's size (default 10240)
  --fill-size B         the filled page's size (default 51200)
  --max-noise F         a run in which others took more than this share of wrk's core is repeated (default 0.1)
  --attempts N          tries per run at most (default 3; --quick 1)
`;

export async function runForwardFill(argv: readonly string[], resultsDir: string): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(FORWARD_FILL_HELP);
    return;
  }
  const o = parseOptions(argv);
  const pinned = canPin(2);
  const cpuCount = availableParallelism();
  const cpu = pinned ? { server: 0, wrk: 1 } : {};
  if (pinned) pinProcess(process.pid, cpu.wrk);
  const wrk = await ensureWrk();
  const startedAt = new Date().toISOString();
  const load = loadavg();
  const rows: FfRow[] = [];
  const notes: string[] = [];
  if (load[0] > cpuCount * 0.5) notes.push(`the machine was busy when the bench started (load average ${load[0].toFixed(2)}): figures are low and noisy`);
  for (const set of o.sets) {
    const size = set === 'forward' ? o.forwardSize : o.fillSize;
    const origin = await startConstantServer(size, { cpu: cpu.server, headers: { 'Cache-Control': 'public, max-age=3600' } });
    const live = new Map<ServerId, Running>();
    try {
      for (const def of ROWS[set]) {
        const row: FfRow = { set, server: def.server, label: def.label, status: 'ok', runs: [] };
        rows.push(row);
        const a = availability(def.server);
        if (!a.ok) {
          Object.assign(row, { status: 'not installed', detail: a.why });
          continue;
        }
        row.detail = a.version;
        try {
          const s = await startServer(set, def.server, origin, cpu.server);
          live.set(def.server, s);
          await checkRow(set, def.server, s.url);
        } catch (err) {
          Object.assign(row, { status: 'failed', detail: (err as Error).message.split('\n')[0] });
          notes.push(`${set} ${def.server}: ${(err as Error).message.split('\n')[0]}`);
        }
      }
      const measured = rows.filter((r) => r.set === set && r.status === 'ok' && live.has(r.server));
      console.log(`${set}: warming up ${measured.map((r) => r.server).join(', ')} (${o.warmupS} s each)`);
      for (const row of measured) {
        if (o.warmupS > 0) await runWrk({ url: `${live.get(row.server)!.url}/fwd/page`, script: scriptFor(set), headers: headersFor(set), connections: o.connections, threads: 1, durationS: o.warmupS, cpu: cpu.wrk }, wrk);
      }
      for (let round = 1; round <= o.rounds; round++) {
        for (const row of measured) {
          const s = live.get(row.server)!;
          const attempts: FfRun[] = [];
          for (;;) {
            const m = await measure(set, s.url, s, o, cpu);
            attempts.push(m);
            if (!shouldRetry(m, attempts.length, o.attempts, o.maxNoise)) break;
          }
          const m = leastNoisy(attempts);
          row.runs.push(m);
          const noise = runNoise(m);
          console.log(`  ${set} round ${round}/${o.rounds}  ${row.server.padEnd(10)} ${fmtInt(m.rps).padStart(8)} req/s  p99 ${m.p99Ms.toFixed(2)} ms` +
            `${m.cpuUsPerRequest !== undefined ? `  ${m.cpuUsPerRequest.toFixed(0)} us CPU/req` : ''}${m.errors || m.non2xx ? `  errors ${m.errors} non-2xx ${m.non2xx}` : ''}` +
            `${noise !== undefined && noise > o.maxNoise ? `  (others took ${(noise * 100).toFixed(0)}% of wrk's core)` : ''}`);
        }
      }
    } finally {
      for (const s of live.values()) await s.close().catch(() => {});
      await origin.close();
    }
  }
  const ratios = ffRatios(rows);
  const targets = ffTargets(rows);
  const text = ffReport(rows, ratios, targets, notes, o, pinned, load);
  console.log('');
  console.log(text.terminal);
  const stamp = startedAt.replace(/[:.]/g, '-');
  await mkdir(resultsDir, { recursive: true });
  const json = `${resultsDir}forward-fill-${stamp}.json`;
  await writeFile(json, JSON.stringify({ bench: 'forward-fill', startedAt, finishedAt: new Date().toISOString(), params: o, machine: { cpus: cpuCount, cpuModel: cpus()[0]?.model, node: process.version, pinned, loadAverageStart: load, loadAverageEnd: loadavg() }, rows: rows.map((r) => ({ ...r, summary: summariseFf(r) })), ratios, targets, notes }, null, 2) + '\n');
  await writeFile(`${resultsDir}forward-fill-${stamp}.md`, text.markdown);
  console.log(`\nresults: ${json}`);
}

function ffReport(rows: FfRow[], ratios: FfRatio[], targets: FfTarget[], notes: string[], o: Options, pinned: boolean, load: number[]): { terminal: string; markdown: string } {
  const header = ['row', 'req/s', 'runs req/s', 'p50 ms', 'p99 ms', 'CPU us/req', 'RSS MB', 'errors'];
  const setup = [
    `${o.connections} connections, median of ${o.rounds} interleaved run(s) of ${o.durationS} s, ${o.warmupS} s unmeasured warm-up per row`,
    pinned ? 'each proxy (and its memcached) and the origin pinned to CPU 0, wrk and this process to CPU 1' : 'NO CPU pinning',
    'CPU us/req: the proxy\'s processes (and its memcached), not the origin\'s; RSS MB: the proxy\'s own process',
    `load average at start ${load.map((l) => l.toFixed(2)).join(' ')}, node ${process.version}`,
  ];
  const term: string[] = ['memfront forwarding and cache fill, side by side', ...setup.map((s) => `  ${s}`)];
  const md: string[] = ['## memfront forwarding and cache fill, side by side', '', ...setup.map((s) => `- ${s}`)];
  for (const set of o.sets) {
    const title = set === 'forward' ? `Forwarding (${fmtInt(o.forwardSize)} B answers, session cookie)` : `Cache fill (a new URL per request, ${fmtInt(o.fillSize)} B cacheable page)`;
    const cells = rows.filter((r) => r.set === set).map((r) => {
      const s = summariseFf(r);
      if (!s) return [r.label, r.status, r.detail ?? '', '', '', '', '', ''];
      return [r.label, fmtInt(s.rps), s.runsRps.map(fmtInt).join(' / '), s.p50Ms.toFixed(2), s.p99Ms.toFixed(2), s.cpuUsPerRequest?.toFixed(0) ?? '-', s.rssPeakBytes ? (s.rssPeakBytes / 1e6).toFixed(1) : '-', `${s.errors + s.non2xx}`];
    });
    term.push('', title, formatTable(header, cells));
    md.push('', `### ${title}`, '', markdownTable(header, cells));
    const rl = ratios.filter((r) => r.set === set).map((r) => `memfront / ${r.over} = ${r.value === undefined ? `- (${r.why})` : `${r.value.toFixed(2)}x`}${r.cpuValue ? `, by CPU per request ${r.cpuValue.toFixed(2)}x` : ''}`);
    term.push('', ...rl);
    md.push('', ...rl.map((l) => `- ${l}`));
  }
  const tl = targets.map((t) => `[${verdict(t.met)}] ${t.target}: ${t.measuredText}`);
  term.push('', 'Targets (issue 18)', ...tl);
  md.push('', '### Targets (issue 18)', '', ...tl.map((l) => `- ${l}`));
  if (notes.length) {
    term.push('', 'Notes', ...notes.map((n) => `- ${n}`));
    md.push('', '### Notes', '', ...notes.map((n) => `- ${n}`));
  }
  return { terminal: term.join('\n'), markdown: md.join('\n') + '\n' };
}
