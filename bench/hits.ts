// The headline figure: requests/s of cache hits through memfront against a bare Node server
// answering the same constant body, measured in one run, interleaved, medians reported.
//   node dist/bench/hits.js [--size 10240] [--connections 50] [--duration 10] [--rounds 3]
//                           [--threads N] [--warmup 2]
// With --compare: issue 18's side-by-side hit table (10 KB and 100 KB, 100 URLs, nginx srcache+memc
// and Varnish beside memfront and the bare server); see bench/compare/hits-compare.ts.
// With --compare, also issue 18's forwarding and cache-fill row sets (bench/compare/forward-fill.ts);
// --sets hits,forward,fill picks among the three.
// memfront and the bare server are pinned to CPU 0 and wrk to CPU 1 when taskset and two
// cores exist, so each server gets the same one core. Results go to bench-results/hits-*.json.

import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { setTimeout as delay } from 'node:timers/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { unpinProcess } from './lib/pin-process.js';
import { runHitsCompare } from './compare/hits-compare.js';
import { runForwardFill } from './compare/forward-fill.js';
import { formatTable, fmtInt, fmtMs } from './lib/bench-table.js';
import { flagValue, numberFlag } from './lib/cli-flags.js';
import { httpProbe } from './lib/http-probe.js';
import { startMemcached, type MemcachedProcess } from './lib/memcached-process.js';
import { startMemfrontProcess, type MemfrontProcess } from './lib/memfront-process.js';
import { canPin } from './lib/pinned-spawn.js';
import { sumCounter } from './lib/prometheus-text.js';
import { startConstantServer, type ConstantServer } from './lib/start-constant-server.js';
import { median } from './lib/stats.js';
import { ensureWrk, runWrk, type WrkResult } from './lib/wrk.js';

interface Target {
  key: 'memfrontIdentity' | 'memfrontGzip' | 'bare';
  label: string;
  url: string;
  headers: Record<string, string>;
  memfront: boolean;
}

interface TargetRuns {
  runs: WrkResult[];
  hits: (number | undefined)[]; // memfront's hit counter delta per run, when /metrics answers
}

const argv = process.argv.slice(2);
const size = numberFlag(argv, 'size', 10240);
const connections = numberFlag(argv, 'connections', 50);
const durationS = numberFlag(argv, 'duration', 10);
const rounds = Math.max(1, numberFlag(argv, 'rounds', 3));
const warmupS = numberFlag(argv, 'warmup', 2);
const pin = canPin(2);
const SERVER_CPU = pin ? 0 : undefined;
const WRK_CPU = pin ? 1 : undefined;
// One wrk thread saturates far more than one Node process can answer; more would only
// compete for wrk's single pinned core.
const threads = numberFlag(argv, 'threads', pin ? 1 : 2);
const PATH = '/bench/page';
const RESULTS_DIR = fileURLToPath(new URL('../../bench-results/', import.meta.url));

function header(h: string | string[] | undefined): string {
  return Array.isArray(h) ? h.join(', ') : (h ?? '');
}

/**
 * Fills the cache and proves the next request is a hit, for both client kinds. A second
 * request that still misses (the first one's store into memcached not yet visible) is asked
 * again a few times and reported; never reaching a hit aborts the bench.
 */
async function warmAndCheck(url: string): Promise<{ gzipEncoding: string; gzipBytes: number; secondRequest: string; retries: number }> {
  const first = await httpProbe(url);
  if (first.status !== 200) throw new Error(`warm-up request got status ${first.status}`);
  let second = await httpProbe(url);
  const secondRequest = `X-Cache: ${header(second.headers['x-cache']) || 'none'}, Cache-Status: ${header(second.headers['cache-status']) || 'none'}`;
  let retries = 0;
  while (header(second.headers['x-cache']) === 'MISS' && retries < 10) {
    retries++;
    await delay(100);
    second = await httpProbe(url);
  }
  if (header(second.headers['x-cache']) !== 'HIT') {
    throw new Error(
      `the second request was not a hit (X-Cache: ${header(second.headers['x-cache']) || 'none'}, ` +
        `Cache-Status: ${header(second.headers['cache-status']) || 'none'}); refusing to measure misses`,
    );
  }
  if (second.body.length !== size) throw new Error(`the hit's body is ${second.body.length} bytes, expected ${size}`);
  const gz = await httpProbe(url, { headers: { 'Accept-Encoding': 'gzip' } });
  if (header(gz.headers['x-cache']) !== 'HIT') throw new Error(`a gzip client's request was not a hit (X-Cache: ${header(gz.headers['x-cache']) || 'none'})`);
  return { gzipEncoding: header(gz.headers['content-encoding']) || 'identity', gzipBytes: gz.body.length, secondRequest, retries };
}

async function hitCount(memfront: MemfrontProcess): Promise<number | undefined> {
  try {
    const res = await httpProbe(`${memfront.adminUrl}/metrics`, { timeoutMs: 2000 });
    return res.status === 200 ? sumCounter(res.body.toString(), 'memfront_requests_total', { cache: 'hit' }) : undefined;
  } catch {
    return undefined;
  }
}

function memcachedVersion(): string | undefined {
  try {
    return execFileSync('memcached', ['-V'], { encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

function summary(r: TargetRuns) {
  return {
    rps: median(r.runs.map((x) => x.rps)),
    p50Ms: median(r.runs.map((x) => x.latencyMs.p50)),
    p99Ms: median(r.runs.map((x) => x.latencyMs.p99)),
    errors: r.runs.reduce((s, x) => s + x.errors, 0),
    non2xx: r.runs.reduce((s, x) => s + x.non2xx, 0),
  };
}

async function main(): Promise<void> {
  const wrk = await ensureWrk();
  let memcached: MemcachedProcess | undefined;
  let backend: ConstantServer | undefined;
  let bare: ConstantServer | undefined;
  let memfront: MemfrontProcess | undefined;
  try {
    memcached = await startMemcached();
    backend = await startConstantServer(size, { headers: { 'Cache-Control': 'public, max-age=3600' } });
    memfront = await startMemfrontProcess(
      {
        workers: 1,
        backend: { url: `http://127.0.0.1:${backend.port}` },
        cache: { store: 'memcached', memcached: { servers: [memcached.server] } },
        log: { level: 'warn' },
        shutdownGraceMs: 1000,
      },
      { cpu: SERVER_CPU },
    );
    bare = await startConstantServer(size, { cpu: SERVER_CPU, headers: { 'Cache-Control': 'public, max-age=3600' } });

    const url = `${memfront.url}${PATH}`;
    const warm = await warmAndCheck(url);
    if (warm.retries > 0) {
      console.warn(`WARNING: the request right after the first was not a hit (${warm.secondRequest}); HIT after ${warm.retries} more`);
    }
    const targets: Target[] = [
      { key: 'memfrontIdentity', label: 'memfront hit, identity', url, headers: {}, memfront: true },
      { key: 'bare', label: 'bare node, constant body', url: `${bare.url.replace(/\/$/, '')}${PATH}`, headers: {}, memfront: false },
      { key: 'memfrontGzip', label: `memfront hit, gzip client (${warm.gzipEncoding}, ${fmtInt(warm.gzipBytes)} B)`, url, headers: { 'Accept-Encoding': 'gzip' }, memfront: true },
    ];
    const base = { connections, threads, cpu: WRK_CPU };

    console.log(`hits bench: ${fmtInt(size)} B body, ${connections} connections, ${threads} wrk thread(s), ${rounds} x ${durationS} s per target` +
      (pin ? ', servers pinned to CPU 0 and wrk to CPU 1' : ', no CPU pinning (needs taskset and 2 cores)'));
    if (warmupS > 0) {
      for (const t of targets) await runWrk({ ...base, url: t.url, headers: t.headers, durationS: warmupS }, wrk);
    }

    const results = Object.fromEntries(targets.map((t) => [t.key, { runs: [], hits: [] } as TargetRuns])) as Record<Target['key'], TargetRuns>;
    // Interleaved (A, B, C, A, B, C, ...) so drift in the machine's state hits every target alike.
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        const before = t.memfront ? await hitCount(memfront) : undefined;
        const r = await runWrk({ ...base, url: t.url, headers: t.headers, durationS }, wrk);
        const after = t.memfront ? await hitCount(memfront) : undefined;
        results[t.key].runs.push(r);
        results[t.key].hits.push(before !== undefined && after !== undefined ? after - before : undefined);
        console.log(`  round ${round}/${rounds}  ${t.key.padEnd(16)}  ${fmtInt(r.rps).padStart(8)} req/s  p99 ${fmtMs(r.latencyMs.p99)} ms` +
          (r.errors || r.non2xx ? `  (${r.errors} socket errors, ${r.non2xx} status >= 400)` : ''));
      }
    }

    const sums = Object.fromEntries(targets.map((t) => [t.key, summary(results[t.key])])) as Record<Target['key'], ReturnType<typeof summary>>;
    const ratioIdentity = sums.memfrontIdentity.rps / sums.bare.rps;
    const ratioGzip = sums.memfrontGzip.rps / sums.bare.rps;
    const hitShare = (k: 'memfrontIdentity' | 'memfrontGzip') => {
      const counted = results[k].hits;
      if (counted.some((h) => h === undefined)) return undefined;
      const requests = results[k].runs.reduce((s, x) => s + x.requests, 0);
      return (counted as number[]).reduce((s, h) => s + h, 0) / requests;
    };

    console.log('');
    console.log(formatTable(
      ['target', 'req/s (median)', 'p50 ms', 'p99 ms', 'runs req/s'],
      targets.map((t) => [
        t.label,
        fmtInt(sums[t.key].rps),
        fmtMs(sums[t.key].p50Ms),
        fmtMs(sums[t.key].p99Ms),
        results[t.key].runs.map((r) => fmtInt(r.rps)).join(' '),
      ]),
    ));
    console.log('');
    console.log(`memfront / bare: ${ratioIdentity.toFixed(3)} (identity client), ${ratioGzip.toFixed(3)} (gzip client)`);
    for (const k of ['memfrontIdentity', 'memfrontGzip'] as const) {
      const share = hitShare(k);
      if (share === undefined) console.log(`  ${k}: memfront /metrics unavailable, hit share not checked`);
      else if (share < 0.99) console.warn(`  WARNING ${k}: only ${(share * 100).toFixed(1)}% of measured requests were counted as hits`);
    }
    for (const t of targets) {
      if (sums[t.key].errors || sums[t.key].non2xx) console.warn(`  WARNING ${t.label}: ${sums[t.key].errors} socket errors, ${sums[t.key].non2xx} responses >= 400`);
    }

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = RESULTS_DIR;
    await mkdir(dir, { recursive: true });
    const file = `${dir}hits-${stamp}.json`;
    await writeFile(file, JSON.stringify({
      bench: 'hits',
      when: new Date().toISOString(),
      params: { size, connections, threads, durationS, rounds, warmupS, path: PATH },
      machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, node: process.version, pinned: pin, memcached: memcachedVersion() },
      warm,
      summary: sums,
      ratio: { identity: ratioIdentity, gzip: ratioGzip },
      hitShare: { memfrontIdentity: hitShare('memfrontIdentity'), memfrontGzip: hitShare('memfrontGzip') },
      runs: results,
    }, null, 2) + '\n');
    console.log(`results: ${file}`);
  } catch (err) {
    console.error(`hits bench failed: ${(err as Error).message}`);
    if (memfront) console.error(`--- memfront output (tail) ---\n${memfront.output()}`);
    process.exitCode = 1;
  } finally {
    await memfront?.close();
    await bare?.close();
    await backend?.close();
    await memcached?.close();
  }
}

/**
 * The hits bench; `--compare` gives issue 18's side-by-side row sets instead, all three by
 * default (`--sets hits,forward,fill` picks; `--forward-fill` is `--sets forward,fill`).
 * bench.ts hands `--hits` here.
 */
export async function hitsMain(args: readonly string[] = process.argv.slice(2)): Promise<void> {
  if (!args.includes('--compare')) return main();
  const named = flagValue(args, 'sets');
  const sets = (named ?? (args.includes('--forward-fill') ? 'forward,fill' : 'hits,forward,fill')).split(',').map((s) => s.trim());
  const unknown = sets.filter((s) => s !== 'hits' && s !== 'forward' && s !== 'fill');
  if (unknown.length > 0) {
    console.error(`hits --compare: --sets takes hits, forward and fill, not ${unknown.join(', ')}`);
    process.exitCode = 2;
    return;
  }
  const rest: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === '--compare' || args[i] === '--forward-fill') continue;
    if (args[i] === '--sets') {
      i++;
      continue;
    }
    if (args[i].startsWith('--sets=')) continue;
    rest.push(args[i]);
  }
  if (sets.includes('hits')) {
    await runHitsCompare(rest, RESULTS_DIR);
    // It pinned this process to wrk's core; the next sets decide their own pinning from the
    // CPUs this process may use, which would be that one core.
    unpinProcess(process.pid);
  }
  const ff = sets.filter((s) => s !== 'hits');
  if (ff.length > 0 && !process.exitCode) await runForwardFill([...rest, '--sets', ff.join(',')], RESULTS_DIR);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await hitsMain();
