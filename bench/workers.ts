// What `workers: 2` gives on this machine: requests/s of cache hits at 50 connections with one
// memfront process and with a primary and two workers, measured in one run, interleaved,
// medians reported. The store is memcached with the default L1 hot tier in front of it, so a
// hot page is mostly answered from each worker's own memory, as in production.
//   node dist/bench/workers.js [--size 10240] [--connections 50] [--duration 10] [--rounds 3]
//                              [--threads 1] [--warmup 2] [--cache-timeout-ms 1000]
//
// The load generator cannot have a core of its own here: with two workers on a two-core
// machine, wrk, memcached and the workers all share both cores. Nothing is pinned, in either
// configuration, so both are measured the same way, and the CPU time each part used during
// each run is read from /proc and reported beside the rates: that shows how much of the
// machine memfront got, and what it did with it. Results go to bench-results/workers-*.json.
//
// cache.memcached.timeoutMs is 1000 here, not the default 50: with every core saturated, an
// event loop can lag past 50 ms, a memcached get then times out, the store takes the server
// out and every request becomes a miss for a while, and the bench would measure that
// collapse instead of hits. Both setups get the same value.

import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { formatTable, fmtInt, fmtMs } from './lib/bench-table.js';
import { numberFlag } from './lib/cli-flags.js';
import { findOnPath } from './lib/find-binary.js';
import { httpProbe } from './lib/http-probe.js';
import { startMemcached, type MemcachedProcess } from './lib/memcached-process.js';
import { startMemfrontProcess, type MemfrontProcess } from './lib/memfront-process.js';
import { startProcSampler, type ProcSampler } from './lib/proc-sampler.js';
import { sumCounter } from './lib/prometheus-text.js';
import { startConstantServer, type ConstantServer } from './lib/start-constant-server.js';
import { median } from './lib/stats.js';
import { ensureWrk, runWrk, type WrkResult } from './lib/wrk.js';

const argv = process.argv.slice(2);
const size = numberFlag(argv, 'size', 10240);
const connections = numberFlag(argv, 'connections', 50);
const durationS = numberFlag(argv, 'duration', 10);
const rounds = Math.max(1, numberFlag(argv, 'rounds', 3));
const warmupS = numberFlag(argv, 'warmup', 2);
// One wrk thread drives far more than two memfront workers answer, and leaves them more CPU.
const threads = numberFlag(argv, 'threads', 1);
const cacheTimeoutMs = numberFlag(argv, 'cache-timeout-ms', 1000);
const TARGET_RATIO = 1.6;
const PATH = '/bench/page';

interface Setup {
  key: 'one' | 'two';
  label: string;
  workers: number;
  mf?: MemfrontProcess;
}

interface Run {
  wrk: WrkResult;
  hits?: number;
  /**
   * CPU seconds used during the run: memfront (all its processes), memcached, and the whole
   * machine (from /proc/stat): what is left over is wrk and anything else running, which on a
   * shared machine shows whether a run was disturbed.
   */
  cpu: { memfront?: number; memcached?: number; machine?: number; wall: number };
  /** Established client connections per worker pid, sampled mid-run. */
  spread?: number[];
}

function header(h: string | string[] | undefined): string {
  return Array.isArray(h) ? h.join(', ') : (h ?? '');
}

async function hitCount(mf: MemfrontProcess): Promise<number | undefined> {
  try {
    const res = await httpProbe(`${mf.adminUrl}/metrics`, { timeoutMs: 5000 });
    return res.status === 200 ? sumCounter(res.body.toString(), 'memfront_requests_total', { cache: 'hit' }) : undefined;
  } catch {
    return undefined;
  }
}

/** Waits until /healthz answers: with workers, the primary opens it once every worker serves. */
async function waitReady(mf: MemfrontProcess, workers: number): Promise<number[]> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    try {
      const res = await httpProbe(`${mf.adminUrl}/healthz`, { timeoutMs: 1000 });
      if (res.status === 200) {
        const h = JSON.parse(res.body.toString());
        const pids: number[] = workers > 1 ? h.workers.filter((w: any) => w.ready).map((w: any) => w.pid) : [h.pid];
        if (pids.length === workers) return pids;
      }
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`memfront with ${workers} worker(s) not ready within 20 s:\n${mf.output()}`);
    await delay(100);
  }
}

/** Fills the cache and proves the next request is a hit, on every process. */
async function warm(url: string): Promise<void> {
  const first = await httpProbe(url);
  if (first.status !== 200) throw new Error(`warm-up request got status ${first.status}`);
  for (let i = 0; i < 20; i++) {
    const r = await httpProbe(url);
    if (header(r.headers['x-cache']) === 'HIT') {
      if (r.body.length !== size) throw new Error(`the hit's body is ${r.body.length} bytes, expected ${size}`);
      return;
    }
    await delay(100);
  }
  throw new Error('no hit after the first request; refusing to measure misses');
}

/** Client connections on `port` held by each pid, from ss (undefined without ss). */
function connectionSpread(port: number, pids: number[]): number[] | undefined {
  if (!findOnPath('ss')) return undefined;
  try {
    const out = execFileSync('ss', ['-tnpH', 'state', 'established', `( sport = :${port} )`], { encoding: 'utf8' });
    return pids.map((p) => (out.match(new RegExp(`pid=${p},`, 'g')) ?? []).length);
  } catch {
    return undefined;
  }
}

/** Busy CPU seconds of the whole machine so far (all cores), from /proc/stat; undefined off Linux. */
function machineBusySeconds(): number | undefined {
  try {
    const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all but idle and iowait.
    const busy = f[0] + f[1] + f[2] + f[5] + f[6] + f[7];
    return busy / 100; // USER_HZ, 100 on every common Linux
  } catch {
    return undefined;
  }
}

function cpuSeconds(s: ProcSampler): number | undefined {
  return s.stop()?.cpuSeconds;
}

async function measure(setup: Setup, pids: number[], memcached: MemcachedProcess, wrkPath: string, seconds: number): Promise<Run> {
  const mf = setup.mf!;
  const url = `${mf.url}${PATH}`;
  const before = await hitCount(mf);
  const mfCpu = startProcSampler(mf.pid, { children: true });
  const mcCpu = startProcSampler(memcached.pid);
  const busyBefore = machineBusySeconds();
  const started = Date.now();
  const running = runWrk({ url, connections, threads, durationS: seconds }, wrkPath);
  await delay((seconds * 1000) / 2);
  const spread = connectionSpread(mf.port, pids);
  const wrk = await running;
  const busyAfter = machineBusySeconds();
  const machine = busyBefore !== undefined && busyAfter !== undefined ? busyAfter - busyBefore : undefined;
  const cpu = { memfront: cpuSeconds(mfCpu), memcached: cpuSeconds(mcCpu), machine, wall: (Date.now() - started) / 1000 };
  const after = await hitCount(mf);
  return { wrk, hits: before !== undefined && after !== undefined ? after - before : undefined, cpu, spread };
}

function memcachedVersion(): string | undefined {
  try {
    return execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

async function main(): Promise<void> {
  const wrk = await ensureWrk();
  let memcached: MemcachedProcess | undefined;
  let backend: ConstantServer | undefined;
  const setups: Setup[] = [
    { key: 'one', label: 'workers: 1 (one process)', workers: 1 },
    { key: 'two', label: 'workers: 2 (primary + 2 workers)', workers: 2 },
  ];
  try {
    memcached = await startMemcached();
    backend = await startConstantServer(size, { headers: { 'Cache-Control': 'public, max-age=3600' } });
    const pids: Record<Setup['key'], number[]> = { one: [], two: [] };
    for (const s of setups) {
      s.mf = await startMemfrontProcess({
        workers: s.workers,
        backend: { url: `http://127.0.0.1:${backend.port}` },
        cache: { store: 'memcached', memcached: { servers: [memcached.server], timeoutMs: cacheTimeoutMs } },
        log: { level: 'warn' },
        shutdownGraceMs: 1000,
      });
      pids[s.key] = await waitReady(s.mf, s.workers);
      await warm(`${s.mf.url}${PATH}`);
    }

    console.log(
      `workers bench: ${fmtInt(size)} B hits (memcached + default L1), ${connections} connections, ${threads} wrk thread(s), ` +
        `${rounds} x ${durationS} s per setup, interleaved; ${availableParallelism()} cores shared by wrk, memcached and memfront (nothing pinned); ` +
        `load average before: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
    );
    if (warmupS > 0) for (const s of setups) await measure(s, pids[s.key], memcached, wrk, warmupS);

    const runs: Record<Setup['key'], Run[]> = { one: [], two: [] };
    for (let round = 1; round <= rounds; round++) {
      for (const s of setups) {
        const r = await measure(s, pids[s.key], memcached, wrk, durationS);
        runs[s.key].push(r);
        console.log(
          `  round ${round}/${rounds}  ${s.key.padEnd(3)}  ${fmtInt(r.wrk.rps).padStart(8)} req/s  p99 ${fmtMs(r.wrk.latencyMs.p99)} ms` +
            `  memfront CPU ${((r.cpu.memfront ?? NaN) / r.cpu.wall * 100).toFixed(0)}%  memcached CPU ${((r.cpu.memcached ?? NaN) / r.cpu.wall * 100).toFixed(0)}%` +
            `  rest (wrk and anything else) ${(((r.cpu.machine ?? NaN) - (r.cpu.memfront ?? 0) - (r.cpu.memcached ?? 0)) / r.cpu.wall * 100).toFixed(0)}%` +
            (r.spread ? `  connections per worker ${r.spread.join('/')}` : '') +
            (r.wrk.errors || r.wrk.non2xx ? `  (${r.wrk.errors} socket errors, ${r.wrk.non2xx} status >= 400)` : ''),
        );
      }
    }

    const sum = (k: Setup['key']) => {
      const rs = runs[k];
      const perCpu = rs.map((r) => (r.cpu.memfront ? r.wrk.requests / r.cpu.memfront : NaN));
      const hitShare = rs.every((r) => r.hits !== undefined)
        ? rs.reduce((a, r) => a + r.hits!, 0) / rs.reduce((a, r) => a + r.wrk.requests, 0)
        : undefined;
      return {
        rps: median(rs.map((r) => r.wrk.rps)),
        p50Ms: median(rs.map((r) => r.wrk.latencyMs.p50)),
        p99Ms: median(rs.map((r) => r.wrk.latencyMs.p99)),
        memfrontCores: median(rs.map((r) => (r.cpu.memfront ?? NaN) / r.cpu.wall)),
        memcachedCores: median(rs.map((r) => (r.cpu.memcached ?? NaN) / r.cpu.wall)),
        restCores: median(rs.map((r) => ((r.cpu.machine ?? NaN) - (r.cpu.memfront ?? 0) - (r.cpu.memcached ?? 0)) / r.cpu.wall)),
        hitsPerCpuSecond: median(perCpu),
        hitShare,
        errors: rs.reduce((a, r) => a + r.wrk.errors + r.wrk.non2xx, 0),
      };
    };
    const one = sum('one');
    const two = sum('two');
    const ratio = two.rps / one.rps;

    console.log('');
    console.log(
      formatTable(
        ['setup', 'req/s (median)', 'p50 ms', 'p99 ms', 'memfront cores', 'memcached cores', 'rest cores', 'hits per memfront CPU-s', 'runs req/s'],
        setups.map((s) => {
          const x = s.key === 'one' ? one : two;
          return [
            s.label,
            fmtInt(x.rps),
            fmtMs(x.p50Ms),
            fmtMs(x.p99Ms),
            x.memfrontCores.toFixed(2),
            x.memcachedCores.toFixed(2),
            x.restCores.toFixed(2),
            fmtInt(x.hitsPerCpuSecond),
            runs[s.key].map((r) => fmtInt(r.wrk.rps)).join(' '),
          ];
        }),
      ),
    );
    console.log('');
    console.log(`workers: 2 / workers: 1 = ${ratio.toFixed(2)} (target >= ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'NOT met'})`);
    for (const [k, x] of [['one', one], ['two', two]] as const) {
      if (x.hitShare === undefined) console.log(`  ${k}: /metrics unavailable, hit share not checked`);
      else if (x.hitShare < 0.99) console.warn(`  WARNING ${k}: only ${(x.hitShare * 100).toFixed(1)}% of measured requests were counted as hits`);
      if (x.errors) console.warn(`  WARNING ${k}: ${x.errors} errors or responses >= 400`);
    }

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = fileURLToPath(new URL('../../bench-results/', import.meta.url));
    await mkdir(dir, { recursive: true });
    const file = `${dir}workers-${stamp}.json`;
    await writeFile(
      file,
      JSON.stringify(
        {
          bench: 'workers',
          when: new Date().toISOString(),
          params: { size, connections, threads, durationS, rounds, warmupS, cacheTimeoutMs, path: PATH, pinned: false },
          machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, node: process.version, memcached: memcachedVersion(), loadavg: loadavg() },
          summary: { one, two },
          ratio,
          target: TARGET_RATIO,
          runs,
        },
        null,
        2,
      ) + '\n',
    );
    console.log(`results: ${file}`);
  } catch (err) {
    console.error(`workers bench failed: ${(err as Error).message}`);
    for (const s of setups) if (s.mf) console.error(`--- memfront (${s.label}) output (tail) ---\n${s.mf.output()}`);
    process.exitCode = 1;
  } finally {
    for (const s of setups) await s.mf?.close();
    await backend?.close();
    await memcached?.close();
  }
}

await main();
