// `node dist/bench/hits.js --compare`: memfront's hit path side by side with the bare Node
// ceiling, nginx srcache+memc and Varnish, at 10 KB and 100 KB, as issues 8 and 18 ask. For each size
// every server is started in front of one counting origin, pinned to the server core with its
// memcached; the 100 URLs are warmed to hits for each client kind; then wrk (on the other
// core, rotating over the URLs) drives each row in turn, round after round, and the medians,
// the ratios and the targets are printed and written to bench-results/.

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fmtInt } from '../lib/bench-table.js';
import { flagValue, numberFlag } from '../lib/cli-flags.js';
import { startCountingOrigin, type CountingOrigin } from '../lib/counting-origin.js';
import { busyShare, readCpuStat } from '../lib/cpu-stat.js';
import { evaluateHitTargets, hitRatios, HIT_ROWS, KB10, KB100, SLICE_TARGETS, sizeLabel, summariseRow, type HitRowId, type RowResult, type RunMeasure, type SizeResult, type SlicePair } from '../lib/hit-targets.js';
import { leastNoisy, runNoise, shouldRetry } from '../lib/hit-noise.js';
import { hitReportMarkdown, hitReportTerminal, type HitReportText } from '../lib/hit-tables.js';
import { httpProbe, type ProbeAnswer } from '../lib/http-probe.js';
import { pinProcess } from '../lib/pin-process.js';
import { canPin } from '../lib/pinned-spawn.js';
import { startProcSampler, type ProcSampler, type ProcUsage } from '../lib/proc-sampler.js';
import { sumCounter } from '../lib/prometheus-text.js';
import { ensureWrk, runWrk } from '../lib/wrk.js';
import { hitPaths } from '../lib/wrk-paths.js';
import { hitServerAvailability, startHitServer, type HitServer, type HitServerKind } from './hit-servers.js';
import { runFigures } from '../lib/wrk-output.js';

interface RowSpec {
  id: HitRowId;
  server: HitServerKind;
  headers: Record<string, string>;
  /** Answers carry X-Cache, and must say HIT. */
  cache: boolean;
  gzip: boolean;
}

const GZIP = { 'Accept-Encoding': 'gzip' };

export const ROW_SPECS: readonly RowSpec[] = [
  { id: 'memfront-identity', server: 'memfront', headers: {}, cache: true, gzip: false },
  { id: 'memfront-gzip', server: 'memfront', headers: GZIP, cache: true, gzip: true },
  { id: 'bare', server: 'bare', headers: {}, cache: false, gzip: false },
  { id: 'bare-distinct', server: 'bare-distinct', headers: {}, cache: false, gzip: false },
  { id: 'nginx-identity', server: 'nginx', headers: {}, cache: true, gzip: false },
  { id: 'varnish-identity', server: 'varnish-plain', headers: {}, cache: true, gzip: false },
  { id: 'varnish-gzip', server: 'varnish', headers: GZIP, cache: true, gzip: true },
  { id: 'varnish-gunzip', server: 'varnish', headers: {}, cache: true, gzip: false },
];

const SERVER_ORDER: readonly HitServerKind[] = ['memfront', 'bare', 'bare-distinct', 'nginx', 'varnish-plain', 'varnish'];

export interface HitsCompareOptions {
  sizes: number[];
  connections: number;
  urls: number;
  durationS: number;
  rounds: number;
  warmupS: number;
  /**
   * An unmeasured run right before each measured one, every row alike: a server that sat idle
   * while the other rows ran starts its run as it would be under steady load (memfront's L1
   * copies run out after cache.l1.ttlMs without hits, and V8 shrinks an idle heap; measured:
   * the first 4 s after 60 s idle had p99 10.9 ms, the next runs 2.6 ms).
   */
  prewarmS: number;
  threads: number;
  /** Runs in which other processes took more than this share of the server's or wrk's core are repeated. */
  maxNoise: number;
  /** Attempts per run at most (1 = never repeat). */
  attempts: number;
  /** Alternating slice pairs per ratio target after the rounds (0 = none), and their length. */
  slices: number;
  sliceS: number;
  quick: boolean;
}

export function parseHitsCompareOptions(argv: readonly string[], pinned: boolean): HitsCompareOptions {
  const quick = argv.includes('--quick');
  const sizesRaw = flagValue(argv, 'sizes');
  const sizes = sizesRaw === undefined ? [KB10, KB100] : sizesRaw.split(',').map((x) => Number(x.trim()));
  if (sizes.some((s) => !Number.isInteger(s) || s <= 0)) throw new Error(`--sizes wants whole byte counts, e.g. 10240,102400; got ${JSON.stringify(sizesRaw)}`);
  const urls = numberFlag(argv, 'urls', 100);
  if (!Number.isInteger(urls) || urls < 1) throw new Error('--urls wants a whole number >= 1');
  return {
    sizes,
    connections: numberFlag(argv, 'connections', 50),
    urls,
    durationS: numberFlag(argv, 'duration', quick ? 3 : 10),
    rounds: Math.max(1, numberFlag(argv, 'rounds', quick ? 1 : 3)),
    warmupS: numberFlag(argv, 'warmup', quick ? 1 : 5),
    prewarmS: numberFlag(argv, 'prewarm', quick ? 0 : 2),
    // One wrk thread on its own core answers far more than one server core can serve.
    threads: numberFlag(argv, 'threads', pinned ? 1 : 2),
    maxNoise: numberFlag(argv, 'max-noise', 0.1),
    attempts: Math.max(1, Math.floor(numberFlag(argv, 'attempts', quick ? 1 : 3))),
    slices: Math.max(0, Math.floor(numberFlag(argv, 'slices', quick ? 0 : 6))),
    sliceS: numberFlag(argv, 'slice', 3),
    quick,
  };
}

function header(h: string | string[] | undefined): string {
  return Array.isArray(h) ? h.join(', ') : (h ?? '');
}

interface WarmResult {
  bytes: number;
  encoding: string;
  /** Paths that needed more than one request after the first to show HIT. */
  slowPaths: number;
  /** What such a second request said instead (X-Cache and Cache-Status), the first seen. */
  secondAnswer?: string;
}

/**
 * Every path until it answers as a hit for this client kind: the first request of each may
 * miss (and store), later ones must say X-Cache: HIT. A path that never does aborts the row:
 * measuring misses as hits would be worse than no figure.
 */
async function warmRow(server: HitServer, spec: RowSpec, paths: readonly string[], size: number): Promise<WarmResult> {
  let last: ProbeAnswer | undefined;
  let slowPaths = 0;
  let secondAnswer: string | undefined;
  for (const path of paths) {
    let tries = 0;
    for (;;) {
      last = await httpProbe(`${server.url}${path}`, { headers: spec.headers });
      if (last.status !== 200) throw new Error(`GET ${path} answered ${last.status}`);
      if (!spec.cache || header(last.headers['x-cache']) === 'HIT') break;
      if (tries === 1) secondAnswer ??= `X-Cache: ${header(last.headers['x-cache']) || 'none'}, Cache-Status: ${header(last.headers['cache-status']) || 'none'}`;
      tries++;
      if (tries > 20) {
        throw new Error(`GET ${path} never answered X-Cache: HIT (last: X-Cache: ${header(last.headers['x-cache']) || 'none'}, ` +
          `Cache-Status: ${header(last.headers['cache-status']) || 'none'})`);
      }
      if (tries > 1) await delay(50);
    }
    if (tries > 1) slowPaths++;
  }
  const a = last!;
  const encoding = header(a.headers['content-encoding']) || 'identity';
  if (spec.gzip && encoding !== 'gzip') throw new Error(`a gzip client got Content-Encoding: ${encoding}`);
  if (!spec.gzip && a.body.length !== size) throw new Error(`an identity answer has ${a.body.length} bytes, expected ${size}`);
  return { bytes: a.body.length, encoding, slowPaths, secondAnswer };
}

/** The mean body bytes of an answer over the paths, for this client kind, now. */
async function answerBytes(server: HitServer, spec: RowSpec, paths: readonly string[]): Promise<number> {
  let total = 0;
  for (const path of paths) total += (await httpProbe(`${server.url}${path}`, { headers: spec.headers })).body.length;
  return Math.round(total / paths.length);
}

async function memfrontHits(server: HitServer): Promise<number | undefined> {
  if (!server.adminUrl) return undefined;
  try {
    const res = await httpProbe(`${server.adminUrl}/metrics`, { timeoutMs: 2000 });
    return res.status === 200 ? sumCounter(res.body.toString(), 'memfront_requests_total', { cache: 'hit' }) : undefined;
  } catch {
    return undefined;
  }
}

interface Cpus {
  server?: number;
  wrk?: number;
}

async function measureRun(server: HitServer, spec: RowSpec, origin: CountingOrigin, paths: string[], wrk: string, o: HitsCompareOptions, cpu: Cpus): Promise<RunMeasure> {
  if (o.prewarmS > 0) {
    await runWrk({ url: server.url, paths, headers: spec.headers, connections: o.connections, threads: o.threads, durationS: o.prewarmS, cpu: cpu.wrk }, wrk);
  }
  const hitsBefore = server.kind === 'memfront' ? await memfrontHits(server) : undefined;
  const backendBefore = origin.requests();
  const serverSampler = startProcSampler(server.pid, { children: server.sampleChildren });
  const companionSamplers = server.companionPids.map((pid) => startProcSampler(pid));
  let wrkSampler: ProcSampler | undefined;
  const selfBefore = process.cpuUsage();
  const statBefore = readCpuStat();
  const r = await runWrk({
    url: server.url, paths, headers: spec.headers, connections: o.connections, threads: o.threads, durationS: o.durationS, cpu: cpu.wrk,
    onSpawn: (pid) => (wrkSampler = startProcSampler(pid, { intervalMs: 100 })),
  }, wrk);
  const statAfter = readCpuStat();
  const self = process.cpuUsage(selfBefore);
  const serverUsage = serverSampler.stop();
  const companionUsage = companionSamplers.map((s) => s.stop());
  // wrk has exited: its last sample (within 100 ms of the end) stands for its total.
  const wrkUsage = wrkSampler?.stop();
  const backendRequests = origin.requests() - backendBefore;
  const hitsAfter = server.kind === 'memfront' ? await memfrontHits(server) : undefined;
  const companionKnown = companionUsage.every((u) => u !== undefined);
  const both = (pick: (u: ProcUsage) => number) => (serverUsage && companionKnown ? pick(serverUsage) + companionUsage.reduce((s, u) => s + pick(u!), 0) : undefined);
  const cpuSeconds = both((u) => u.cpuSeconds);
  const serverCoreBusy = busyShare(statBefore, statAfter, cpu.server);
  const serverCoreSoftirq = busyShare(statBefore, statAfter, cpu.server, 'softirq');
  const window = serverUsage?.wallSeconds ?? r.durationS;
  return {
    ...runFigures(r),
    serverRssPeakBytes: serverUsage?.peakRssBytes,
    companionRssPeakBytes: companionUsage.length && companionKnown ? companionUsage.reduce((s, u) => s + u!.peakRssBytes, 0) : undefined,
    cpuSeconds,
    userSeconds: both((u) => u.userSeconds),
    backendRequests,
    countedHits: hitsBefore !== undefined && hitsAfter !== undefined ? hitsAfter - hitsBefore : undefined,
    serverCoreBusy,
    wrkCoreBusy: busyShare(statBefore, statAfter, cpu.wrk),
    serverCoreSoftirq,
    serverCoreOthers: serverCoreBusy !== undefined && serverCoreSoftirq !== undefined && cpuSeconds !== undefined && window > 0
      ? Math.max(0, serverCoreBusy - serverCoreSoftirq - cpuSeconds / window) : undefined,
    wrkCpuShare: wrkUsage && r.durationS > 0 ? wrkUsage.cpuSeconds / r.durationS : undefined,
    wrkCoreOthers: wrkCoreOthers(busyShare(statBefore, statAfter, cpu.wrk), busyShare(statBefore, statAfter, cpu.wrk, 'softirq'), wrkUsage?.cpuSeconds, (self.user + self.system) / 1e6, window),
  };
}

/** wrk's core shares it with this process (origin idle, samplers); what neither used, softirq aside, was others'. */
function wrkCoreOthers(busy: number | undefined, softirq: number | undefined, wrkSeconds: number | undefined, selfSeconds: number, window: number): number | undefined {
  if (busy === undefined || softirq === undefined || wrkSeconds === undefined || !(window > 0)) return undefined;
  return Math.max(0, busy - softirq - (wrkSeconds + selfSeconds) / window);
}

/** After the rounds: do the caches still answer every path as a hit? */
async function stillHits(server: HitServer, spec: RowSpec, paths: readonly string[]): Promise<number> {
  let notHit = 0;
  for (const path of paths) {
    const a = await httpProbe(`${server.url}${path}`, { headers: spec.headers });
    if (a.status !== 200 || header(a.headers['x-cache']) !== 'HIT') notHit++;
  }
  return notHit;
}

/**
 * Each ratio target's two rows in alternating short slices (SlicePair): A B, then B A, and so
 * on, each slice a plain run of `sliceS` seconds with no prewarm (neither row idles longer than
 * a slice). Run after the rounds, on the servers as the rounds left them.
 */
async function alternateSlices(
  size: number,
  rows: Map<HitRowId, RowResult>,
  servers: Map<HitServerKind, HitServer>,
  origin: CountingOrigin,
  paths: string[],
  wrk: string,
  o: HitsCompareOptions,
  cpu: Cpus,
  notes: string[],
): Promise<SlicePair[]> {
  const out: SlicePair[] = [];
  const so: HitsCompareOptions = { ...o, durationS: o.sliceS, prewarmS: 0 };
  const usPerRequest = (r: RunMeasure) => (r.cpuSeconds !== undefined && r.requests > 0 ? (r.cpuSeconds * 1e6) / r.requests : undefined);
  for (const t of SLICE_TARGETS) {
    if (t.size !== size) continue;
    const a = ROW_SPECS.find((x) => x.id === t.of)!;
    const b = ROW_SPECS.find((x) => x.id === t.over)!;
    const sa = servers.get(a.server);
    const sb = servers.get(b.server);
    if (!sa || !sb || rows.get(a.id)!.status !== 'ok' || rows.get(b.id)!.status !== 'ok') continue;
    console.log(`${sizeLabel(size)}: ${t.of} / ${t.over} in ${o.slices} alternating pairs of ${o.sliceS} s slices`);
    const pair: SlicePair = { of: t.of, over: t.over, rps: [], cpuUs: [] };
    try {
      for (let i = 0; i < o.slices; i++) {
        const first = i % 2 === 0 ? 'a' : 'b';
        const ma0 = first === 'a' ? await measureRun(sa, a, origin, paths, wrk, so, cpu) : undefined;
        const mb = await measureRun(sb, b, origin, paths, wrk, so, cpu);
        const ma = ma0 ?? (await measureRun(sa, a, origin, paths, wrk, so, cpu));
        pair.rps.push([ma.rps, mb.rps]);
        pair.cpuUs.push([usPerRequest(ma), usPerRequest(mb)]);
        console.log(`  ${sizeLabel(size)} slices ${i + 1}/${o.slices}  ${fmtInt(ma.rps).padStart(8)} / ${fmtInt(mb.rps).padStart(8)} req/s = ${(ma.rps / mb.rps).toFixed(2)}x`);
      }
      out.push(pair);
    } catch (err) {
      notes.push(`${sizeLabel(size)} ${t.of} / ${t.over}: a slice failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return out;
}

interface Running {
  things: Set<{ close(): Promise<void> }>;
}

async function benchSize(size: number, o: HitsCompareOptions, wrk: string, cpu: Cpus, running: Running, notes: string[]): Promise<SizeResult> {
  const paths = hitPaths(o.urls);
  const origin = await startCountingOrigin(size);
  running.things.add(origin);
  const servers = new Map<HitServerKind, HitServer>();
  const slices: SlicePair[] = [];
  const rows = new Map<HitRowId, RowResult>(ROW_SPECS.map((s) => [s.id, { id: s.id, label: HIT_ROWS.find((h) => h.id === s.id)!.label, status: 'ok', runs: [] }]));
  const fail = (id: HitRowId, status: 'not installed' | 'failed', detail: string) => Object.assign(rows.get(id)!, { status, detail });
  try {
    for (const kind of SERVER_ORDER) {
      const specs = ROW_SPECS.filter((s) => s.server === kind);
      const avail = hitServerAvailability(kind);
      if (!avail.installed) {
        for (const s of specs) fail(s.id, 'not installed', avail.reason);
        continue;
      }
      try {
        const server = await startHitServer(kind, origin.url, size, cpu.server, avail.version, o.urls);
        running.things.add(server);
        servers.set(kind, server);
        for (const s of specs) rows.get(s.id)!.detail = avail.version;
      } catch (err) {
        const msg = (err as Error).message.split('\n')[0];
        console.error(`hits --compare: ${kind} failed to start: ${(err as Error).message}`);
        for (const s of specs) fail(s.id, 'failed', msg);
      }
    }
    // Warm every row before any is measured, so no row's warm-up falls between another's runs.
    const live = ROW_SPECS.filter((s) => servers.has(s.server));
    for (const spec of live) {
      const row = rows.get(spec.id)!;
      try {
        const w = await warmRow(servers.get(spec.server)!, spec, paths, size);
        row.bytesPerResponse = w.bytes;
        row.contentEncoding = w.encoding;
        if (w.slowPaths) notes.push(`${sizeLabel(size)} ${spec.id}: ${w.slowPaths} of ${paths.length} paths needed more than one request after the first to show X-Cache: HIT (e.g. ${w.secondAnswer})`);
      } catch (err) {
        fail(spec.id, 'failed', `warm-up: ${(err as Error).message}`);
        notes.push(`${sizeLabel(size)} ${spec.id}: warm-up failed: ${(err as Error).message}`);
      }
    }
    const measured = live.filter((s) => rows.get(s.id)!.status === 'ok');
    console.log(`${sizeLabel(size)}: warming up ${measured.map((s) => s.id).join(', ')} (${o.warmupS} s each)`);
    if (o.warmupS > 0) {
      for (const spec of measured) {
        await runWrk({ url: servers.get(spec.server)!.url, paths, headers: spec.headers, connections: o.connections, threads: o.threads, durationS: o.warmupS, cpu: cpu.wrk }, wrk);
      }
    }
    // What a gzip answer weighs once warm: memfront gzips hot pages again (cache.hotGzip), so
    // the first answers may have been larger than those measured.
    for (const spec of measured) {
      if (!spec.gzip) continue;
      const row = rows.get(spec.id)!;
      const warm = await answerBytes(servers.get(spec.server)!, spec, paths);
      if (row.bytesPerResponse !== undefined && Math.abs(warm - row.bytesPerResponse) > row.bytesPerResponse * 0.01) {
        notes.push(`${sizeLabel(size)} ${spec.id}: ${fmtInt(warm)} B per answer after the warm-up (mean over the paths), ${fmtInt(row.bytesPerResponse)} B at first`);
      }
      row.bytesPerResponse = warm;
    }
    // Interleaved (A, B, C, A, B, C, ...) so drift in the machine's state hits every row alike.
    for (let round = 1; round <= o.rounds; round++) {
      for (const spec of measured) {
        const row = rows.get(spec.id)!;
        if (row.status !== 'ok') continue;
        try {
          const attempts: RunMeasure[] = [];
          for (;;) {
            const a = await measureRun(servers.get(spec.server)!, spec, origin, paths, wrk, o, cpu);
            attempts.push(a);
            if (!shouldRetry(a, attempts.length, o.attempts, o.maxNoise)) break;
            console.log(`  ${sizeLabel(size)} round ${round}/${o.rounds}  ${spec.id.padEnd(17)} ${fmtInt(a.rps).padStart(8)} req/s  ` +
              `discarded: other processes took ${((runNoise(a) ?? 0) * 100).toFixed(0)}% of a core; again`);
          }
          const m = { ...leastNoisy(attempts), discardedAttempts: attempts.length - 1 };
          row.runs.push(m);
          const noise = runNoise(m);
          const perReq = (sec: number) => ((sec * 1e6) / m.requests).toFixed(1);
          const cpuUs = m.cpuSeconds !== undefined && m.requests > 0
            ? `${perReq(m.cpuSeconds)} us/req${m.userSeconds !== undefined ? ` (user ${perReq(m.userSeconds)})` : ''}` : '';
          console.log(`  ${sizeLabel(size)} round ${round}/${o.rounds}  ${spec.id.padEnd(17)} ${fmtInt(m.rps).padStart(8)} req/s  p99 ${m.p99Ms.toFixed(2)} ms  ${cpuUs}` +
            (noise !== undefined && noise > o.maxNoise ? `  (disturbed: others took ${(noise * 100).toFixed(0)}% of a core)` : '') +
            (m.backendRequests ? `  (${m.backendRequests} reached the origin)` : '') +
            (m.errors || m.non2xx ? `  (${m.errors} socket errors, ${m.non2xx} status >= 400)` : ''));
        } catch (err) {
          fail(spec.id, 'failed', (err as Error).message.split('\n')[0]);
          notes.push(`${sizeLabel(size)} ${spec.id}: a run failed: ${(err as Error).message}`);
        }
      }
    }
    if (o.slices > 0) slices.push(...(await alternateSlices(size, rows, servers, origin, paths, wrk, o, cpu, notes)));
    for (const spec of measured) {
      const row = rows.get(spec.id)!;
      if (row.status !== 'ok') continue;
      const s = summariseRow(row);
      if (!s) continue;
      const where = `${sizeLabel(size)} ${spec.id}`;
      if (s.backendRequests > 0) notes.push(`${where}: ${fmtInt(s.backendRequests)} requests reached the origin during the measured runs (misses)`);
      if (s.errors || s.non2xx) notes.push(`${where}: ${s.errors} socket errors, ${s.non2xx} answers >= 400`);
      if (s.hitShare !== undefined && s.hitShare < 0.999) notes.push(`${where}: memfront counted ${(s.hitShare * 100).toFixed(2)}% of the requests as hits`);
      const worst = (pick: (r: RunMeasure) => number | undefined) => {
        const xs = row.runs.map(pick).filter((x): x is number => x !== undefined);
        return xs.length ? { min: Math.min(...xs), max: Math.max(...xs) } : undefined;
      };
      const wrkCpu = worst((r) => r.wrkCpuShare);
      const disturbed = row.runs.filter((r) => (runNoise(r) ?? 0) > o.maxNoise);
      const discarded = row.runs.reduce((n, r) => n + (r.discardedAttempts ?? 0), 0);
      const busy = worst((r) => r.serverCoreBusy);
      if (wrkCpu && wrkCpu.max > 0.9) notes.push(`${where}: wrk used ${(wrkCpu.max * 100).toFixed(0)}% of its core in one run: the load generator may have been the limit`);
      if (discarded) notes.push(`${where}: ${discarded} disturbed attempt(s) repeated (other processes took over ${(o.maxNoise * 100).toFixed(0)}% of the server's or wrk's core)`);
      if (disturbed.length) notes.push(`${where}: ${disturbed.length} of ${row.runs.length} kept run(s) still disturbed (others took up to ${(Math.max(...disturbed.map((r) => runNoise(r)!)) * 100).toFixed(0)}% of a core)`);
      if (busy && busy.min < 0.9) notes.push(`${where}: the server core was only ${(busy.min * 100).toFixed(0)}% busy in one run (the server did not fill its core)`);
      if (spec.cache) {
        const notHit = await stillHits(servers.get(spec.server)!, spec, paths);
        if (notHit) notes.push(`${where}: after the runs ${notHit} of ${paths.length} paths no longer answered X-Cache: HIT`);
      }
    }
  } finally {
    for (const kind of [...SERVER_ORDER].reverse()) {
      const s = servers.get(kind);
      if (!s) continue;
      running.things.delete(s);
      try {
        await s.close();
      } catch (err) {
        console.error(`hits --compare: stopping ${kind} failed: ${(err as Error).message}`);
      }
    }
    running.things.delete(origin);
    await origin.close();
  }
  return { size, rows: ROW_SPECS.map((s) => rows.get(s.id)!), slices };
}

function memcachedVersion(): string | undefined {
  try {
    return execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

export const HITS_COMPARE_HELP = `node dist/bench/hits.js --compare [options]   (or: npm run bench -- --hits --compare ...)

memfront's hit path beside the bare Node server, nginx srcache+memc and Varnish (when
installed), at each body size, with ratios and issue 18's targets; then the forwarding and
cache-fill row sets (--forward-fill --help for their options). Results: the terminal, and
bench-results/hits-compare-<time>.json and .md (forward-fill-<time>.* for the other two).

  --sets A,B         which row sets: hits, forward, fill (default all three)

  --sizes A,B        body sizes in bytes (default 10240,102400)
  --connections N    wrk connections (default 50)
  --urls N           distinct URLs wrk rotates over, all warmed to hits first (default 100)
  --duration S       seconds per run (default 10; --quick 3)
  --rounds N         interleaved rounds; medians are reported, and beside each ratio the
                     median of the rounds' own ratios (default 3; --quick 1)
  --warmup S         an unmeasured wrk run per row first (default 5: V8 takes a few seconds
                     to reach steady speed on memfront's hit path; --quick 1)
  --prewarm S        an unmeasured run of S seconds right before each measured run, every
                     row alike, so no row starts cold after idling while the others ran
                     (default 2; --quick 0)
  --threads N        wrk threads (default 1 when pinned)
  --max-noise F      a run in which other processes took more than this share of the server's
                     or wrk's core is repeated (default 0.1)
  --attempts N       tries per run at most; the least disturbed is kept (default 3; --quick 1)
  --slices N         after the rounds, each ratio target's two rows in N alternating pairs of
                     short runs (A B, B A, ...), reported beside the rounds' verdict: the
                     machine's slow and fast phases fall on both rows of a pair alike
                     (default 6; --quick 0)
  --slice S          seconds per slice (default 3)
  --quick            3 s x 1 round
`;

export async function runHitsCompare(argv: readonly string[], resultsDir: string): Promise<void> {
  if (argv.includes('--help')) {
    process.stdout.write(HITS_COMPARE_HELP);
    return;
  }
  const pinned = canPin(2);
  // Read before this process pins itself: afterwards it sees only its own core.
  const cpuCount = availableParallelism();
  const cpu: Cpus = pinned ? { server: 0, wrk: 1 } : {};
  let o: HitsCompareOptions;
  try {
    o = parseHitsCompareOptions(argv, pinned);
  } catch (err) {
    console.error(`hits --compare: ${(err as Error).message}`);
    process.exitCode = 2;
    return;
  }
  const running: Running = { things: new Set() };
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\nhits --compare: interrupted, stopping the servers');
    void Promise.allSettled([...running.things].map((t) => t.close())).then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  // This process (origin, samplers) shares wrk's core, so the server core holds only servers.
  if (pinned) pinProcess(process.pid, cpu.wrk);

  const startedAt = new Date().toISOString();
  const loadStart = loadavg();
  const notes: string[] = [];
  try {
    const wrk = await ensureWrk();
    const setup = [
      `${o.connections} connections, ${o.urls} URLs (wrk rotating over them, every one warmed to a hit first), median of ${o.rounds} interleaved run(s) of ${o.durationS} s, ${o.warmupS} s unmeasured warm-up per row${o.prewarmS > 0 ? ` and ${o.prewarmS} s right before each run` : ''}`,
      pinned ? 'each server and its memcached pinned to CPU 0, wrk (and this process) to CPU 1' : 'NO CPU pinning (needs taskset and 2 cores): servers and wrk share cores',
      'memfront: the default config except cache.memcached.servers (its own memcached) and log.level=warn (listener and admin on free 127.0.0.1 ports)',
      'nginx srcache+memc: 1 worker, its own memcached, stores identity; Varnish: malloc storage, the identity row from an instance storing what the origin sent, the gzip rows from one storing gzip (do_gzip) that unzips for identity clients',
      'RSS MB: peak of the server\'s own processes; memcached MB: its memcached; CPU us/req: utime+stime of both (and all child processes) over the run / requests; user us/req: the utime part (the processes\' own code; the rest is the kernel\'s work for them)',
      `machine: ${cpuCount} CPUs (${cpus()[0]?.model ?? 'unknown'}), node ${process.version}, load average at start ${loadStart.map((l) => l.toFixed(2)).join(' ')}`,
    ];
    console.log(`hits --compare: ${setup[0]}`);
    if (loadStart[0] > cpuCount * 0.5) notes.push(`the machine was busy when the bench started (load average ${loadStart[0].toFixed(2)}): other processes share the cores, so absolute figures are low and noisy; the ratios are of interleaved runs`);
    const sizes: SizeResult[] = [];
    for (const size of o.sizes) sizes.push(await benchSize(size, o, wrk, cpu, running, notes));
    for (const s of sizes) {
      const b = s.rows.find((r) => r.id === 'nginx-identity');
      if (b?.status === 'ok') {
        notes.push('nginx srcache+memc stores and sends identity bodies only; it has no gzip row');
        break;
      }
    }
    const loadEnd = loadavg();
    setup.push(`load average at the end ${loadEnd.map((l) => l.toFixed(2)).join(' ')}`);
    const ratios = hitRatios(sizes);
    const targets = evaluateHitTargets(sizes, o.connections);
    const report: HitReportText = { title: 'memfront hit path, side by side', setup, sizes, ratios, targets, notes };
    console.log('');
    console.log(hitReportTerminal(report));

    const stamp = startedAt.replace(/[:.]/g, '-');
    await mkdir(resultsDir, { recursive: true });
    const json = `${resultsDir}hits-compare-${stamp}.json`;
    const md = `${resultsDir}hits-compare-${stamp}.md`;
    await writeFile(json, JSON.stringify({
      bench: 'hits-compare',
      startedAt,
      finishedAt: new Date().toISOString(),
      command: `node dist/bench/hits.js ${argv.join(' ')}`.trim(),
      params: o,
      machine: { cpus: cpuCount, cpuModel: cpus()[0]?.model, node: process.version, pinned, memcached: memcachedVersion(), loadAverageStart: loadStart, loadAverageEnd: loadEnd },
      setup,
      sizes: sizes.map((s) => ({ size: s.size, rows: s.rows.map((r) => ({ ...r, summary: summariseRow(r) })), slices: s.slices })),
      ratios,
      targets,
      notes,
    }, null, 2) + '\n');
    await writeFile(md, hitReportMarkdown(report));
    console.log('');
    console.log(`results: ${json}`);
    console.log(`         ${md}`);
  } catch (err) {
    console.error(`hits --compare failed: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await Promise.allSettled([...running.things].map((t) => t.close()));
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
