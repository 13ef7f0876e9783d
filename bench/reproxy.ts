// Reproxy throughput: requests/s for a file served through memfront's reproxy against the same
// file sent by the backend itself, measured in one run, interleaved, medians reported.
//   node dist/bench/reproxy.js [--size 10240] [--connections 50] [--duration 10] [--rounds 3]
//                              [--threads N] [--warmup 2]
// Targets (memfront's cache is off, so every request takes its route):
//   backend    memfront → backend, which sends the file itself        ("the backend alone")
//   reproxy    memfront → backend (X-Reproxy-URL, body dropped) → file server
//   cache-for  memfront → file server (X-Reproxy-Cache-For remembered the URL: no backend)
//   route      memfront → file server (a `to: "reproxy"` route: no backend)
//   file       the file server alone, no memfront (the ceiling)
// memfront, the backend and the file server are pinned to CPU 0 and wrk to CPU 1 when taskset
// and two cores exist, so each figure is what one core does for the whole chain.
// Results go to bench-results/reproxy-*.json.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdir, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { formatTable, fmtInt, fmtMs } from './lib/bench-table.js';
import { flagValue, numberFlag } from './lib/cli-flags.js';
import { constantBody } from './lib/constant-body.js';
import { httpProbe } from './lib/http-probe.js';
import { startMemfrontProcess, type MemfrontProcess } from './lib/memfront-process.js';
import { canPin, pinnedSpawn } from './lib/pinned-spawn.js';
import { startConstantServer, type ConstantServer } from './lib/start-constant-server.js';
import { median } from './lib/stats.js';
import { stopChild } from './lib/stop-child.js';
import { ensureWrk, runWrk, type WrkResult } from './lib/wrk.js';
import { childPort } from './lib/child-port.js';

const argv = process.argv.slice(2);
const size = numberFlag(argv, 'size', 10240);

// ---- the backend role: this same file, run as its own process

/**
 * The bench backend: /direct sends the file itself; /reproxy and /cache-for answer with
 * X-Reproxy-URL pointing at the file server (the latter with X-Reproxy-Cache-For), and a
 * small body that memfront drops. Prints its port; exits when stdin closes.
 */
function serveBackend(fileUrl: string): void {
  const body = constantBody(size);
  const note = Buffer.from('reproxied: this body is dropped\n');
  const server = createServer((req, res) => {
    req.resume();
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/direct') {
      res.writeHead(200, { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': body.length });
      return res.end(req.method === 'HEAD' ? undefined : body);
    }
    if (path === '/reproxy' || path === '/cache-for') {
      const headers: Record<string, string | number> = { 'Content-Type': 'text/html; charset=UTF-8', 'Content-Length': note.length, 'X-Reproxy-URL': fileUrl };
      if (path === '/cache-for') headers['X-Reproxy-Cache-For'] = '3600; Content-Type';
      res.writeHead(200, headers);
      return res.end(note);
    }
    res.writeHead(404, { 'Content-Length': 0 });
    res.end();
  });
  server.listen(0, '127.0.0.1', () => process.stdout.write(`${(server.address() as AddressInfo).port}\n`));
  const stop = () => process.exit(0);
  process.on('SIGTERM', stop);
  process.stdin.on('end', stop);
  process.stdin.on('error', stop);
  process.stdin.resume();
}

async function startBackend(fileUrl: string, cpu: number | undefined): Promise<{ url: string; close(): Promise<void> }> {
  const self = fileURLToPath(import.meta.url);
  const child = pinnedSpawn(cpu, process.execPath, [self, '--serve-backend', fileUrl, '--size', String(size)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const port = await childPort(child, 'bench backend');
  return { url: `http://127.0.0.1:${port}`, close: () => stopChild(child, 2000) };
}

// ---- the measurement

interface Target {
  key: 'backend' | 'reproxy' | 'cacheFor' | 'route' | 'file';
  label: string;
  url: string;
}

async function checkTarget(t: Target): Promise<void> {
  // Twice: the first cache-for request teaches memfront the URL; the second must use it.
  for (let i = 0; i < 2; i++) {
    const r = await httpProbe(t.url);
    if (r.status !== 200) throw new Error(`${t.key}: status ${r.status}`);
    if (r.body.length !== size) throw new Error(`${t.key}: body is ${r.body.length} bytes, expected ${size}`);
    if (r.body.toString().includes('dropped')) throw new Error(`${t.key}: the backend's body reached the client`);
  }
}

async function main(): Promise<void> {
  const connections = numberFlag(argv, 'connections', 50);
  const durationS = numberFlag(argv, 'duration', 10);
  const rounds = Math.max(1, numberFlag(argv, 'rounds', 3));
  const warmupS = numberFlag(argv, 'warmup', 2);
  const pin = canPin(2);
  const SERVER_CPU = pin ? 0 : undefined;
  const WRK_CPU = pin ? 1 : undefined;
  const threads = numberFlag(argv, 'threads', pin ? 1 : 2);

  const wrk = await ensureWrk();
  let files: ConstantServer | undefined;
  let backend: Awaited<ReturnType<typeof startBackend>> | undefined;
  let memfront: MemfrontProcess | undefined;
  try {
    files = await startConstantServer(size, { cpu: SERVER_CPU, headers: { 'Cache-Control': 'public, max-age=3600' } });
    const fileUrl = `http://127.0.0.1:${files.port}/file`;
    backend = await startBackend(fileUrl, SERVER_CPU);
    memfront = await startMemfrontProcess(
      {
        workers: 1,
        backend: { url: backend.url },
        cache: { enabled: false },
        reproxy: { enabled: true, allowedHosts: ['127.0.0.1'] },
        routes: [{ match: '^/route$', to: 'reproxy', url: fileUrl }],
        log: { level: 'warn' },
        shutdownGraceMs: 1000,
      },
      { cpu: SERVER_CPU },
    );
    const targets: Target[] = [
      { key: 'backend', label: 'backend alone (memfront → backend sends the file)', url: `${memfront.url}/direct` },
      { key: 'reproxy', label: 'reproxy (memfront → backend X-Reproxy-URL → file server)', url: `${memfront.url}/reproxy` },
      { key: 'cacheFor', label: 'reproxy, URL remembered (X-Reproxy-Cache-For: no backend)', url: `${memfront.url}/cache-for` },
      { key: 'route', label: 'reproxy route (to: "reproxy": no backend)', url: `${memfront.url}/route` },
      { key: 'file', label: 'file server alone (no memfront)', url: fileUrl },
    ];
    for (const t of targets) await checkTarget(t);

    console.log(`reproxy bench: ${fmtInt(size)} B file, ${connections} connections, ${threads} wrk thread(s), ${rounds} x ${durationS} s per target, memfront cache off` +
      (pin ? ', servers pinned to CPU 0 and wrk to CPU 1' : ', no CPU pinning (needs taskset and 2 cores)'));
    const base = { connections, threads, cpu: WRK_CPU };
    if (warmupS > 0) for (const t of targets) await runWrk({ ...base, url: t.url, durationS: warmupS }, wrk);

    const runs = Object.fromEntries(targets.map((t) => [t.key, [] as WrkResult[]])) as Record<Target['key'], WrkResult[]>;
    // Interleaved (A, B, C, A, B, C, ...) so drift in the machine's state hits every target alike.
    for (let round = 1; round <= rounds; round++) {
      for (const t of targets) {
        const r = await runWrk({ ...base, url: t.url, durationS }, wrk);
        runs[t.key].push(r);
        console.log(`  round ${round}/${rounds}  ${t.key.padEnd(9)}  ${fmtInt(r.rps).padStart(8)} req/s  p99 ${fmtMs(r.latencyMs.p99)} ms` +
          (r.errors || r.non2xx ? `  (${r.errors} socket errors, ${r.non2xx} status >= 400)` : ''));
      }
    }

    const summary = Object.fromEntries(targets.map((t) => {
      const rs = runs[t.key];
      return [t.key, {
        rps: median(rs.map((x) => x.rps)),
        p50Ms: median(rs.map((x) => x.latencyMs.p50)),
        p99Ms: median(rs.map((x) => x.latencyMs.p99)),
        errors: rs.reduce((s, x) => s + x.errors, 0),
        non2xx: rs.reduce((s, x) => s + x.non2xx, 0),
      }];
    })) as Record<Target['key'], { rps: number; p50Ms: number; p99Ms: number; errors: number; non2xx: number }>;
    const vsBackend = (k: Target['key']) => summary[k].rps / summary.backend.rps;

    console.log('');
    console.log(formatTable(
      ['target', 'req/s (median)', 'vs backend alone', 'p50 ms', 'p99 ms', 'runs req/s'],
      targets.map((t) => [
        t.label,
        fmtInt(summary[t.key].rps),
        vsBackend(t.key).toFixed(2),
        fmtMs(summary[t.key].p50Ms),
        fmtMs(summary[t.key].p99Ms),
        runs[t.key].map((r) => fmtInt(r.rps)).join(' '),
      ]),
    ));
    for (const t of targets) {
      if (summary[t.key].errors || summary[t.key].non2xx) console.warn(`  WARNING ${t.label}: ${summary[t.key].errors} socket errors, ${summary[t.key].non2xx} responses >= 400`);
    }

    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    const dir = fileURLToPath(new URL('../../bench-results/', import.meta.url));
    await mkdir(dir, { recursive: true });
    const file = `${dir}reproxy-${stamp}.json`;
    await writeFile(file, JSON.stringify({
      bench: 'reproxy',
      when: new Date().toISOString(),
      params: { size, connections, threads, durationS, rounds, warmupS, cache: 'off' },
      machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, node: process.version, pinned: pin },
      summary,
      vsBackendAlone: Object.fromEntries(targets.map((t) => [t.key, vsBackend(t.key)])),
      runs,
    }, null, 2) + '\n');
    console.log(`results: ${file}`);
  } catch (err) {
    console.error(`reproxy bench failed: ${(err as Error).message}`);
    if (memfront) console.error(`--- memfront output (tail) ---\n${memfront.output()}`);
    process.exitCode = 1;
  } finally {
    await memfront?.close();
    await backend?.close();
    await files?.close();
  }
}

if (argv[0] === '--serve-backend') serveBackend(flagValue(argv, 'serve-backend') ?? '');
else await main();
