// Instructions per request under valgrind's callgrind: a measure that other processes on the
// machine do not disturb (wall-clock and even CPU time per request do). One server runs under
// callgrind with instrumentation off; after a warm-up it is switched on, a fixed number of
// requests is sent, and the counts are dumped: everything the process (all its threads) executed
// while those requests were served, divided by their number.
//
//   node dist/bench/callgrind.js --server memfront|http-proxy|undici|bare --mode forward|fill|hit
//        [--identity] (hit: the client does not accept gzip) [--urls 100] (hit) [--requests 2000] [--warmup 3000] [--concurrency 8] [--size 10240] [--out DIR]
//        [--config FILE]   (memfront: a config merged over the bench's)
//        [--cli PATH]      (memfront: another build's dist/src/cli.js, e.g. of an older commit)
//
// - forward: every request carries a session cookie (memfront: X-Cache: BYPASS), the origin's
//   answer is --size bytes;
// - fill: every request a new URL of a cacheable --size page (memfront: MISS, stored);
// - hit: 100 URLs, warmed to hits first; `--server bare` is the constant-body Node server
//   (constant-server.ts), the ceiling a hit is compared with.
// The origin (and memfront's memcached) run outside valgrind: only the server is counted.
// JIT-compiled JavaScript has no symbols for valgrind; the server runs with --perf-basic-prof
// and the addresses callgrind names are mapped through /tmp/perf-PID.map, so the report and
// the rewritten callgrind file (callgrind_annotate --inclusive=yes FILE.named) name JS functions.

import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, readdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { binNodeFlags } from './lib/bin-node-flags.js';
import { flagValue, numberFlag } from './lib/cli-flags.js';
import { constantBody } from './lib/constant-body.js';
import { freePort } from './lib/free-port.js';
import { startMemcached } from './lib/memcached-process.js';
import { stopChild } from './lib/stop-child.js';
import { waitForPort } from './lib/wait-for-port.js';
import { mergeConfig } from './compare/cache-server.js';
import { sumCounter } from './lib/prometheus-text.js';
import { BENCH_MEMFRONT_CONFIG } from './compare/memfront-target.js';

const CLI = fileURLToPath(new URL('../src/cli.js', import.meta.url));
const BARE = fileURLToPath(new URL('./lib/bare-proxy-server.js', import.meta.url));
const CONSTANT = fileURLToPath(new URL('./lib/constant-server.js', import.meta.url));
const SESSION = 'wordpress_logged_in_0123456789abcdef=admin%7C1700000000%7Cabcdef';

type Mode = 'forward' | 'fill' | 'hit';

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  const server = flagValue(argv, 'server') ?? 'memfront';
  const mode = (flagValue(argv, 'mode') ?? 'forward') as Mode;
  const requests = numberFlag(argv, 'requests', 2000);
  const warmup = numberFlag(argv, 'warmup', 3000);
  const concurrency = numberFlag(argv, 'concurrency', 8);
  const size = numberFlag(argv, 'size', mode === 'fill' ? 51200 : 10240);
  const out = flagValue(argv, 'out') ?? (await mkdtemp(join(tmpdir(), 'mf-callgrind-')));
  const configFile = flagValue(argv, 'config');

  const origin = await startOrigin(size);
  const memcached = server === 'memfront' ? await startMemcached({ memoryMb: 512 }) : undefined;
  const port = await freePort();
  const adminPort = await freePort();
  let args: string[];
  if (server === 'memfront') {
    let config = mergeConfig(BENCH_MEMFRONT_CONFIG, {
      listen: { host: '127.0.0.1', port },
      admin: { host: '127.0.0.1', port: adminPort },
      backend: { url: origin.url },
      cache: { store: 'memcached', memcached: { servers: [memcached!.server] } },
    });
    // Under valgrind a second lasts a few requests: with the default L1 ttlMs every hit would be
    // an L1 refill (a memcached read, a decode, an inflate), which is not what a hit costs.
    if (mode === 'hit') config = mergeConfig(config, { cache: { l1: { ttlMs: 600_000 } } });
    if (configFile) config = mergeConfig(config, JSON.parse(await readFile(configFile, 'utf8')) as Record<string, unknown>);
    const file = join(out, 'memfront.json');
    await writeFile(file, JSON.stringify(config));
    const cli = flagValue(argv, 'cli') ?? CLI;
    args = [...binNodeFlags(cli), cli, '--config', file];
  } else if (server === 'bare') {
    args = [CONSTANT, '--size', String(size), '--port', String(port), '--header', 'Cache-Control: public, max-age=3600'];
  } else {
    args = [BARE, '--kind', server, '--backend', origin.url, '--port', String(port)];
  }
  const cgOut = join(out, 'callgrind.out');
  const child: ChildProcess = spawn('valgrind', ['--tool=callgrind', '--instr-atstart=no', '--separate-threads=yes', `--callgrind-out-file=${cgOut}`, process.execPath, '--perf-basic-prof', ...args], {
    stdio: ['pipe', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (d: Buffer) => (tail = (tail + d.toString()).slice(-4000)));
  try {
    await waitForPort('127.0.0.1', port, { child, name: server, timeoutMs: 300_000 });
    let agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    let next = 0;
    let retries = 0;
    // Hits: under valgrind a second lasts ~100 requests, so what memfront does once a second per
    // URL (a new head for its Age) lands on every hit of 100 URLs; `--urls 1` counts a hit alone.
    const urls = numberFlag(argv, 'urls', 100);
    const pathFor = (i: number): string => (mode === 'fill' ? `/fill/${i}` : `/page/${i % urls}`);
    const identity = argv.includes('--identity');
    const headers: Record<string, string> = identity ? {} : { 'Accept-Encoding': 'gzip' };
    if (mode === 'forward') headers.Cookie = SESSION;
    const expectCache = mode === 'forward' ? 'BYPASS' : mode === 'fill' ? 'MISS' : 'HIT';
    let priming = false;
    const send = (n: number): Promise<void> => {
      const end = next + n;
      const loop = async (): Promise<void> => {
        while (next < end) {
          const path = pathFor(next++);
          // A pooled connection the slow (instrumented) server closed just as it was reused:
          // ask again, and say how often.
          for (let attempt = 1; ; attempt++) {
            try {
              await get(port, path, headers, agent, server === 'memfront' && !priming ? expectCache : undefined);
              break;
            } catch (err) {
              if ((err as { code?: string }).code !== 'ECONNRESET' || attempt >= 3) throw err;
              retries++;
            }
          }
        }
      };
      return Promise.all(Array.from({ length: concurrency }, loop)).then(() => undefined);
    };
    if (mode === 'hit') {
      // The first pass over the URLs fills the cache: misses, not yet what is measured.
      priming = true;
      await send(200);
      priming = false;
    }
    const t0 = Date.now();
    await send(warmup);
    console.log(`warm-up: ${warmup} requests in ${((Date.now() - t0) / 1000).toFixed(1)} s (uninstrumented)`);
    if (mode === 'hit') {
      // Hot pages are gzipped again once hit often enough (cache.hotGzip), one at a time, and
      // under valgrind that takes seconds each: measured before they are all done, the hits
      // would carry that work (measured: ~7k instructions per hit of 91.6k). Waited out.
      if (server === 'memfront') {
        const settled = await hotGzipSettled(adminPort);
        console.log(`hot gzip: ${settled.total} pages gzipped again after ${settled.seconds} s`);
      }
      // Every server, alike: a pause in which V8's background compiles (slow under valgrind)
      // finish, then a second warm-up, so no server is measured in its baseline tier.
      await new Promise((r) => setTimeout(r, 5000));
      await send(Math.min(warmup, 2000));
    }
    agent.destroy();
    callgrindControl(['--instr=on', String(child.pid)]);
    // Fresh connections: the old ones sat idle while instrumentation was switched on, and
    // the server may be closing them (keepAliveTimeout) as they are reused.
    agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
    retries = 0;
    const before = origin.requests();
    const t1 = Date.now();
    await send(requests);
    const originCount = origin.requests() - before;
    callgrindControl(['--dump=measured', String(child.pid)]);
    console.log(`measured: ${requests} requests in ${((Date.now() - t1) / 1000).toFixed(1)} s, origin saw ${originCount}, ${retries} asked again after ECONNRESET`);
    agent.destroy();
  } catch (err) {
    console.error(`${(err as Error).message}\n--- valgrind ---\n${tail}`);
    process.exitCode = 1;
  } finally {
    await stopChild(child, 30_000);
    await memcached?.close();
    await origin.close();
  }
  if (process.exitCode) return;
  // One file per thread (--separate-threads): -01 is the main thread, the event loop's; the
  // others are V8's compiler and GC helpers and libuv's pool, which a second core absorbs.
  const dumps = (await readdir(out)).filter((f) => /^callgrind\.out\.\d+-\d+$/.test(f) && !f.startsWith('callgrind.out.0')).sort();
  let all = 0;
  for (const f of dumps) all += totalOf(await readFile(join(out, f), 'utf8'));
  const main = dumps.find((f) => f.endsWith('-01')) ?? dumps[0];
  const named = await nameJit(join(out, main), child.pid!);
  console.log(`all threads: ${(all / requests).toFixed(0)} instructions per request (${dumps.length} threads)`);
  console.log(`file: ${named}`);
  console.log(summarise(await readFile(named, 'utf8'), requests, 'main thread'));
}

/**
 * One body for every path, cacheable for an hour. Its idle connections are kept for a minute:
 * a server under valgrind can sit idle longer than Node's default 5 s (switching
 * instrumentation on takes a while), and a pooled connection closed under it is a 502.
 */
async function startOrigin(size: number): Promise<{ url: string; requests(): number; close(): Promise<void> }> {
  const body = constantBody(size);
  const headers = { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': String(body.length), 'Cache-Control': 'public, max-age=3600' };
  let count = 0;
  const server = http.createServer((req, res) => {
    count++;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  server.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    requests: () => count,
    close: () => new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    }),
  };
}

function callgrindControl(args: string[]): void {
  execFileSync('callgrind_control', args, { stdio: 'ignore' });
}

function get(port: number, path: string, headers: Record<string, string>, agent: http.Agent, expectCache?: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path, headers, agent }, (res) => {
      const xc = res.headers['x-cache'];
      if (res.statusCode !== 200 || (expectCache && xc !== expectCache)) {
        reject(new Error(`GET ${path}: ${res.statusCode} X-Cache ${xc} (expected 200 ${expectCache})`));
        res.resume();
        return;
      }
      res.on('data', () => {});
      res.on('end', resolve);
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

interface PerfSym {
  start: bigint;
  end: bigint;
  name: string;
}

/** Callgrind names code without symbols by address (0x...); the perf map names JIT code. */
async function nameJit(file: string, pid: number): Promise<string> {
  let syms: PerfSym[] = [];
  try {
    const map = await readFile(`/tmp/perf-${pid}.map`, 'utf8');
    for (const line of map.split('\n')) {
      const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
      if (m) syms.push({ start: BigInt(`0x${m[1]}`), end: BigInt(`0x${m[1]}`) + BigInt(`0x${m[2]}`), name: m[3] });
    }
  } catch {
    syms = [];
  }
  syms.sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const lookup = (addr: bigint): string | undefined => {
    let lo = 0;
    let hi = syms.length - 1;
    let found: PerfSym | undefined;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (syms[mid].start <= addr) {
        found = syms[mid];
        lo = mid + 1;
      } else hi = mid - 1;
    }
    return found && addr < found.end ? found.name : undefined;
  };
  const text = await readFile(file, 'utf8');
  const outText = text.replace(/^(c?fn=\(\d+\)) 0x([0-9a-f]+)$/gm, (whole, head: string, hex: string) => {
    const name = lookup(BigInt(`0x${hex}`));
    return name ? `${head} ${name.replace(/\s+/g, '_')}` : whole;
  });
  const named = `${file}.named`;
  await writeFile(named, outText);
  return named;
}

/** The instructions a callgrind file counts (its summary line). */
function totalOf(text: string): number {
  const m = /^(?:summary|totals): (\d+)/m.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Total and the top functions by self cost, per request. */
function summarise(text: string, requests: number, label: string): string {
  const names = new Map<string, string>();
  const self = new Map<string, number>();
  let fn = '';
  let inCall = false;
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('fn=')) {
      const m = /^fn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (m) {
        if (m[2] !== undefined) names.set(m[1], m[2]);
        fn = names.get(m[1]) ?? m[1];
      } else fn = line.slice(3);
      inCall = false;
      continue;
    }
    if (line.startsWith('cfn=')) {
      const m = /^cfn=\((\d+)\)(?: (.*))?$/.exec(line);
      if (m && m[2] !== undefined) names.set(m[1], m[2]);
      continue;
    }
    if (line.startsWith('calls=')) {
      inCall = true;
      continue;
    }
    if (/^[+\-*]?\d|^\+|^-/.test(line)) {
      const parts = line.trim().split(/\s+/);
      const ir = Number(parts[1] ?? 0);
      if (inCall) {
        inCall = false;
        continue;
      }
      self.set(fn, (self.get(fn) ?? 0) + ir);
      total += ir;
    }
  }
  const top = [...self.entries()].sort((a, b) => b[1] - a[1]).slice(0, 40);
  const lines = [`${label}: ${(total / requests).toFixed(0)} instructions per request (${total} over ${requests})`, 'self cost per request, top functions:'];
  for (const [name, ir] of top) lines.push(`${(ir / requests).toFixed(0).padStart(9)}  ${((ir / total) * 100).toFixed(1).padStart(5)}%  ${name.slice(0, 140)}`);
  return lines.join('\n');
}

await main();

/** Waits until memfront_hot_gzip_total has not moved for 3 s (at most 10 minutes). */
async function hotGzipSettled(adminPort: number): Promise<{ total: number; seconds: number }> {
  const t0 = Date.now();
  let last = -1;
  let still = 0;
  while (Date.now() - t0 < 600_000) {
    const text = await new Promise<string>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port: adminPort, path: '/metrics' }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve(body));
      }).on('error', reject);
    });
    const total = sumCounter(text, 'memfront_hot_gzip_total') ?? 0;
    still = total === last ? still + 1 : 0;
    last = total;
    if (still >= 3) break;
    await new Promise((r) => setTimeout(r, 1000));
  }
  return { total: last, seconds: Math.round((Date.now() - t0) / 1000) };
}
