// `npm run bench`: hit rate and speed of memfront on a realistic workload. Starts the synthetic
// CMS backend, memcached and memfront (and, asked to, nginx srcache+memc and Varnish), drives a
// Zipf workload from a separate driver process, and reports on the terminal, as JSON and as
// HTML in bench-results/. `--target URL --urls FILE` drives an existing deployment instead.
// See docs/bench.md; `npm run bench -- --help` lists the options.

import { readFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg } from 'node:os';
import type { DriverPlan } from './driver/driver-plan.js';
import { measurePhase } from './driver/measure-phase.js';
import { runDriver } from './driver/start-driver.js';
import { HELP, parseBenchOptions, type BenchOptions, type Competitor } from './lib/bench-options.js';
import { httpProbe } from './lib/http-probe.js';
import { MEMFRONT_COMMAND } from './lib/memfront-process.js';
import { canPin } from './lib/pinned-spawn.js';
import { startBenchBackend } from './lib/start-bench-backend.js';
import { startConstantServer } from './lib/start-constant-server.js';
import type { Availability, CacheServer, StartOptions } from './compare/cache-server.js';
import { memfrontConfig, startMemfrontTarget } from './compare/memfront-target.js';
import { nginxAvailability, startNginxSrcache } from './compare/nginx-srcache.js';
import { startVarnish, varnishAvailability } from './compare/varnish.js';
import { REPORT_SCHEMA, type BenchReport, type PhaseReport, type TargetReport, type TheoryReport, type WorkloadReport } from './report/report-types.js';
import { terminalReport } from './report/terminal-report.js';
import { writeReport } from './report/write-report.js';
import { bytes } from './report/format.js';
import { cmsCatalog, postsFor, weightedMeanBytes, type CatalogPage } from './workload/cms-catalog.js';
import { theoreticalHitRate } from './workload/hit-rate-theory.js';
import { parseUrlList } from './workload/url-list.js';
import { zipfProbabilities } from './workload/zipf.js';

const PIN = canPin(2);
const SERVER_CPU = PIN ? 0 : undefined;
const DRIVER_CPU = PIN ? 1 : undefined;
const TIMEOUT_MS = 10_000;

/** Everything started and not yet stopped, stopped in reverse order at the end or on Ctrl-C. */
const running = new Map<{ close(): Promise<void> }, string>();

function track<T extends { close(): Promise<void> }>(name: string, thing: T): T {
  running.set(thing, name);
  return thing;
}

async function stop(thing: { close(): Promise<void> }): Promise<void> {
  running.delete(thing);
  await thing.close();
}

async function stopAll(): Promise<void> {
  for (const [thing, name] of [...running].reverse()) {
    running.delete(thing);
    try {
      await thing.close();
    } catch (err) {
      console.error(`bench: stopping ${name} failed: ${(err as Error).message}`);
    }
  }
}

function basePlan(opts: BenchOptions, label: string, origin: string, paths: string[]): DriverPlan {
  return {
    label,
    origin,
    paths,
    zipfS: opts.zipfS,
    mix: { loggedInShare: opts.loggedInShare, gzipShare: opts.gzipShare },
    connections: opts.connections,
    ratePerS: opts.ratePerS,
    durationS: opts.durationS,
    requests: opts.requests,
    seed: opts.seed,
    timeoutMs: TIMEOUT_MS,
    progressEveryMs: 250,
  };
}

/** Anonymous visitors only, no updates, for baselineDurationS: the cache's hit path. */
function hitsOnlyPlan(opts: BenchOptions, label: string, origin: string, paths: string[]): DriverPlan {
  return {
    ...basePlan(opts, label, origin, paths),
    mix: { loggedInShare: 0, gzipShare: opts.gzipShare },
    durationS: opts.baselineDurationS,
    requests: undefined,
  };
}

/** Every page once, so the hits-only phase measures hits (a separate driver run, unmeasured). */
async function warm(plan: DriverPlan): Promise<void> {
  const r = await runDriver({ ...plan, warm: true, requests: 0, durationS: undefined }, { cpu: DRIVER_CPU });
  if (r.warm && r.warm.errors > 0) console.warn(`bench: warming ${plan.label}: ${r.warm.errors} of ${r.warm.requests} requests failed`);
}

function theoryFor(
  server: Pick<CacheServer, 'staleWhileRevalidateS' | 'defaultTtlS'>,
  phase: PhaseReport,
  catalog: readonly Pick<CatalogPage, 'ttlS'>[],
  probabilities: Float64Array,
  opts: BenchOptions,
  defaultTtlOverride?: number,
): TheoryReport | undefined {
  const run = phase.run;
  if (run.requests === 0 || run.durationS <= 0) return undefined;
  const requestRate = run.requests / run.durationS;
  // The share this run actually drew, not the one asked for: the theory is about this run.
  const loggedInShare = 1 - run.anonymous.requests / run.requests;
  const inputs = {
    requestRate,
    loggedInShare,
    purgeRate: opts.purgeRatePerS,
    staleWhileRevalidateS: server.staleWhileRevalidateS,
    fetchS: opts.renderMs / 1000,
    durationS: run.durationS,
    pages: catalog.length,
  };
  const pages = catalog.map((c, i) => ({ p: probabilities[i], ttlS: defaultTtlOverride ?? c.ttlS ?? server.defaultTtlS }));
  // The expectation second by second, drawn beside the measured "so far" line.
  const coldStartCurve: Array<[number, number]> = [];
  const step = Math.max(1, Math.ceil(run.durationS / 120));
  for (let t = step; t < run.durationS + step; t += step) {
    const d = Math.min(t, run.durationS);
    coldStartCurve.push([d, theoreticalHitRate({ ...inputs, pages, durationS: d }).coldStartAnonymous ?? 0]);
  }
  return { ...theoreticalHitRate({ ...inputs, pages }), inputs, coldStartCurve };
}

interface CacheKind {
  id: string;
  label: string;
  availability(): Availability;
  start(o: StartOptions): Promise<CacheServer>;
}

const COMPETITORS: Record<Competitor, CacheKind> = {
  nginx: { id: 'nginx-srcache', label: 'nginx srcache+memc', availability: nginxAvailability, start: startNginxSrcache },
  varnish: { id: 'varnish', label: 'Varnish', availability: varnishAvailability, start: startVarnish },
};

async function checkAnswers(url: string, path: string): Promise<void> {
  const r = await httpProbe(`${url}${path}`, { timeoutMs: TIMEOUT_MS });
  if (r.status >= 500) throw new Error(`GET ${path} answered ${r.status}`);
}

async function benchSynthetic(opts: BenchOptions, notes: string[]): Promise<{ workload: WorkloadReport; targets: TargetReport[]; ceilingBytes?: number }> {
  const catalog = cmsCatalog(opts.pages, opts.seed);
  const paths = catalog.map((c) => c.path);
  const probabilities = zipfProbabilities(catalog.length, opts.zipfS);
  const weighted = weightedMeanBytes(catalog, probabilities);
  const ttls: Record<string, number> = {};
  for (const c of catalog) {
    const key = c.ttlS === undefined ? 'default' : String(c.ttlS);
    ttls[key] = (ttls[key] ?? 0) + 1;
  }
  const workload: WorkloadReport = {
    mode: 'synthetic',
    pages: catalog.length,
    zipfS: opts.zipfS,
    loggedInShare: opts.loggedInShare,
    gzipShare: opts.gzipShare,
    purgeRatePerS: opts.purgeRatePerS,
    renderMs: opts.renderMs,
    connections: opts.connections,
    ratePerS: opts.ratePerS,
    durationS: opts.durationS,
    requests: opts.requests,
    meanPageBytes: catalog.reduce((s, c) => s + c.bytes, 0) / catalog.length,
    weightedMeanBytes: weighted,
    ttls,
    top: catalog.slice(0, 10).map((c, i) => ({ path: c.path, p: probabilities[i], bytes: c.bytes, ttlS: c.ttlS })),
  };

  console.log(`starting the synthetic CMS (${postsFor(opts.pages)} posts, ${opts.renderMs} ms render)`);
  const backend = track('CMS backend', await startBenchBackend({ pages: postsFor(opts.pages), renderMs: opts.renderMs }));
  const config = await memfrontConfig(opts.configFile, opts.workers);
  const targets: TargetReport[] = [];

  const caches: CacheKind[] = [
    {
      id: 'memfront',
      label: 'memfront',
      availability: () => ({ installed: true, version: `memfront (${MEMFRONT_COMMAND}, as its bin runs)` }),
      start: (o) => startMemfrontTarget(config, o),
    },
    ...opts.compare.map((c) => COMPETITORS[c]),
  ];

  for (const c of caches) {
    const avail = c.availability();
    if (!avail.installed) {
      targets.push({ id: c.id, label: c.label, kind: 'cache', status: 'not installed', detail: avail.reason });
      notes.push(`${c.label}: ${avail.reason}`);
      continue;
    }
    await backend.reset();
    let server: CacheServer | undefined;
    try {
      console.log(`starting ${c.label}`);
      server = track(c.label, await c.start({ backendUrl: backend.url, cpu: SERVER_CPU }));
      await checkAnswers(server.url, paths[0]);
      const target: TargetReport = { id: server.id, label: server.label, kind: 'cache', status: 'ok', detail: avail.version };
      const plan: DriverPlan = {
        ...basePlan(opts, server.label, server.url, paths),
        purge: opts.purgeRatePerS > 0 ? { ratePerS: opts.purgeRatePerS, updateOrigin: backend.url } : undefined,
      };
      target.workload = await measurePhase({ plan, pid: server.pid, sampleChildren: server.sampleChildren, backend, adminUrl: server.adminUrl, showHitRate: true, progressBar: opts.progress, driverCpu: DRIVER_CPU, notes });
      target.theory = theoryFor(server, target.workload, catalog, probabilities, opts);
      if (opts.baseline) {
        const hp = hitsOnlyPlan(opts, `${server.label} hits`, server.url, paths);
        await warm(hp);
        target.hitsOnly = await measurePhase({ plan: hp, pid: server.pid, sampleChildren: server.sampleChildren, backend, adminUrl: server.adminUrl, showHitRate: true, progressBar: opts.progress, driverCpu: DRIVER_CPU, notes });
        if (target.hitsOnly.run.hitRate < 0.99) {
          notes.push(`${server.label}: only ${(target.hitsOnly.run.hitRate * 100).toFixed(1)}% of the hits-only requests were hits`);
        }
      }
      for (const [phase, p] of [['workload', target.workload], ['hits-only', target.hitsOnly]] as const) {
        const errs = p?.metrics?.cacheErrors;
        if (errs) notes.push(`${server.label} counted ${errs.toLocaleString('en-US')} cache errors in the ${phase} phase (memcached timeouts or failures; each was served as a miss)`);
      }
      targets.push(target);
    } catch (err) {
      const msg = (err as Error).message.split('\n')[0];
      console.error(`bench: ${c.label} failed: ${(err as Error).message}`);
      if (server) console.error(`--- ${c.label} output (tail) ---\n${server.output()}`);
      targets.push({ id: c.id, label: c.label, kind: 'cache', status: 'failed', detail: msg });
      notes.push(`${c.label} failed: ${msg}`);
    } finally {
      if (server) await stop(server);
    }
  }

  let ceilingBytes: number | undefined;
  if (opts.baseline) {
    // The ceiling serves what memfront's hits served, byte for byte on average (gzip included).
    const mf = targets.find((t) => t.id === 'memfront')?.hitsOnly?.run;
    ceilingBytes = Math.max(1, Math.round(mf && mf.requests > 0 ? mf.bytes / mf.requests : weighted));
    console.log(`starting the bare Node server (a constant ${bytes(ceilingBytes)} body)`);
    const bare = track('bare Node server', await startConstantServer(ceilingBytes, { cpu: SERVER_CPU, headers: { 'Cache-Control': 'public, max-age=3600' } }));
    try {
      const label = 'bare Node (ceiling)';
      const hitsOnly = await measurePhase({ plan: hitsOnlyPlan(opts, label, `http://127.0.0.1:${bare.port}`, paths), pid: bare.pid, showHitRate: false, progressBar: opts.progress, driverCpu: DRIVER_CPU, notes });
      targets.push({ id: 'bare', label, kind: 'ceiling', status: 'ok', detail: `constant ${ceilingBytes} B body`, hitsOnly });
    } finally {
      await stop(bare);
    }

    await backend.reset();
    const label = 'backend alone';
    const plan: DriverPlan = { ...basePlan(opts, label, backend.url, paths), durationS: opts.baselineDurationS, requests: undefined };
    const alone = await measurePhase({ plan, pid: backend.pid, backend, showHitRate: false, progressBar: opts.progress, driverCpu: DRIVER_CPU, notes });
    targets.push({ id: 'backend', label, kind: 'backend', status: 'ok', detail: `the synthetic CMS, ${opts.renderMs} ms render`, workload: alone });
  }
  return { workload, targets, ceilingBytes };
}

async function benchTarget(opts: BenchOptions, notes: string[]): Promise<{ workload: WorkloadReport; targets: TargetReport[] }> {
  const origin = new URL(opts.target!).origin;
  const paths = parseUrlList(await readFile(opts.urlsFile!, 'utf8'));
  if (paths.length === 0) throw new Error(`${opts.urlsFile}: no URLs in it`);
  const probabilities = zipfProbabilities(paths.length, opts.zipfS);
  const workload: WorkloadReport = {
    mode: 'target',
    origin,
    pages: paths.length,
    zipfS: opts.zipfS,
    loggedInShare: opts.loggedInShare,
    gzipShare: opts.gzipShare,
    purgeRatePerS: opts.purgeRatePerS,
    connections: opts.connections,
    ratePerS: opts.ratePerS,
    durationS: opts.durationS,
    requests: opts.requests,
    top: paths.slice(0, 10).map((path, i) => ({ path, p: probabilities[i] })),
  };
  await checkAnswers(origin, paths[0]);
  const plan: DriverPlan = {
    ...basePlan(opts, new URL(origin).host, origin, paths),
    purge: opts.purgeRatePerS > 0 ? { ratePerS: opts.purgeRatePerS } : undefined,
  };
  const phase = await measurePhase({ plan, adminUrl: opts.adminUrl, showHitRate: true, progressBar: opts.progress, driverCpu: DRIVER_CPU, notes });
  const target: TargetReport = { id: 'target', label: new URL(origin).host, kind: 'cache', status: 'ok', detail: origin, workload: phase };
  if (phase.run.requests > 0 && (phase.run.outcomes.none?.summary.count ?? 0) === phase.run.requests) {
    notes.push(`${origin} sent no X-Cache header, so hits cannot be told from misses: its hit rate shows as 0`);
  }
  if (opts.ttlS !== undefined) {
    target.theory = theoryFor({ staleWhileRevalidateS: 0, defaultTtlS: opts.ttlS }, phase, paths.map(() => ({})), probabilities, { ...opts, renderMs: 0 }, opts.ttlS);
    notes.push(`the theoretical hit rate assumes every URL lives --ttl ${opts.ttlS} s and nothing is served stale`);
  } else {
    notes.push('no theoretical hit rate: give --ttl S (the lifetime of the pages) to get one');
  }
  if (phase.backend === undefined && phase.metrics?.backendRequests === undefined) {
    notes.push('requests that reached the backend are unknown: give --admin URL (memfront\'s admin address) to read them from /metrics');
  }
  return { workload, targets: [target] };
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2);
  let opts: BenchOptions;
  try {
    opts = parseBenchOptions(argv);
  } catch (err) {
    console.error(`bench: ${(err as Error).message}`);
    process.exitCode = 2;
    return;
  }
  if (opts.help) {
    process.stdout.write(HELP);
    return;
  }
  let interrupted = false;
  const onSignal = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    console.error('\nbench: interrupted, stopping the servers');
    void stopAll().then(() => process.exit(130));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const startedAt = new Date().toISOString();
  const load = loadavg();
  const notes: string[] = [];
  if (!PIN) notes.push('no CPU pinning (needs taskset and 2 cores): the driver and the servers share cores, so figures are lower and noisier');
  if (load[0] > availableParallelism() * 0.5) {
    notes.push(`the machine was busy when the bench started (load average ${load[0].toFixed(2)} on ${availableParallelism()} CPUs): figures may be low and noisy`);
  }
  try {
    const result = opts.target ? await benchTarget(opts, notes) : await benchSynthetic(opts, notes);
    if (result.targets.some((t) => t.id === 'nginx-srcache' && t.status === 'ok')) {
      notes.push('nginx srcache+memc stores and sends identity bodies (no gzip), so it sends more bytes per response than memfront and Varnish');
    }
    if (!opts.target) notes.push('memfront runs with log.level=warn (no per-request log lines), as the other servers run without access logs');
    const report: BenchReport = {
      schema: REPORT_SCHEMA,
      startedAt,
      finishedAt: new Date().toISOString(),
      command: `npm run bench --${argv.length ? ' ' + argv.join(' ') : ''}`,
      machine: { cpus: availableParallelism(), cpuModel: cpus()[0]?.model, node: process.version, platform: process.platform, pinned: PIN, loadAverage: load },
      workload: result.workload,
      targets: result.targets,
      ceilingBytes: 'ceilingBytes' in result ? (result.ceilingBytes as number | undefined) : undefined,
      notes,
    };
    console.log('');
    console.log(terminalReport(report));
    const files = await writeReport(report, opts.outDir);
    console.log('');
    console.log(`report: ${files.json}`);
    console.log(`        ${files.html}`);
  } catch (err) {
    console.error(`bench failed: ${(err as Error).message}`);
    process.exitCode = 1;
  } finally {
    await stopAll();
  }
}

// `--hits` hands over to the hit-path bench (bench/hits.ts) with the other arguments, loaded
// only then: its flags are read when it loads.
const hitsArgs = process.argv.slice(2);
if (hitsArgs.includes('--hits')) {
  const { hitsMain } = await import('./hits.js');
  await hitsMain(hitsArgs.filter((a) => a !== '--hits'));
} else {
  await main();
}
