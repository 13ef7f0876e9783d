// The load driver: `connections` closed loops over an undici Pool (one request in flight per
// connection, no pipelining), each request a Zipf-drawn page for a drawn visitor; every answer
// is sorted by its X-Cache into an HDR histogram, counted per second, its bytes summed. With a
// rate, requests are sent on a fixed schedule and latency counts from the scheduled time, so a
// stalled server cannot hide its stall (no coordinated omission).

import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { Pool, type Dispatcher } from 'undici';
import { hashString, seededRandom } from '../../demo/seeded-random.js';
import { PurgeSchedule } from '../workload/purge-schedule.js';
import { pickVisitor, VISITOR_KINDS, visitorHeaders, visitorIndex } from '../workload/visitor-mix.js';
import { ZipfSampler } from '../workload/zipf.js';
import type { DriverPlan, DriverProgress, PurgeCounts, RunResult } from './driver-plan.js';
import { LatencyRecorder } from './latency-recorder.js';
import { outcomeOf, servedFromCache, type Outcome } from './outcome.js';
import { Timeline } from './timeline.js';

interface Answer {
  status: number;
  xCache: string | string[] | undefined;
  bytes: number;
}

/** One request, body counted and dropped; rejects on a socket error or timeout. */
export function send(pool: Dispatcher, method: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let status = 0;
    let xCache: string | string[] | undefined;
    let bytes = 0;
    pool.dispatch(
      { method, path, headers },
      {
        // Its presence is what makes undici use this (non-deprecated) handler interface.
        onRequestStart() {},
        onResponseStart(_c, statusCode, h) {
          status = statusCode;
          xCache = h['x-cache'];
        },
        onResponseData(_c, chunk) {
          bytes += chunk.length;
        },
        onResponseEnd() {
          resolve({ status, xCache, bytes });
        },
        onResponseError(_c, err) {
          reject(err);
        },
      },
    );
  });
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; name?: string };
  return e.code ?? e.name ?? 'Error';
}

/** Every path once, `connections` at a time: fills a cache before a hits-only measurement. */
async function warmAll(pool: Dispatcher, paths: readonly string[], connections: number): Promise<{ requests: number; errors: number; ms: number }> {
  const t0 = performance.now();
  const headers = visitorHeaders({ loggedIn: false, gzip: true });
  let next = 0;
  let errors = 0;
  const worker = async () => {
    while (next < paths.length) {
      const path = paths[next++];
      try {
        const a = await send(pool, 'GET', path, headers);
        if (a.status >= 500) errors++;
      } catch {
        errors++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(connections, paths.length) }, worker));
  return { requests: paths.length, errors, ms: performance.now() - t0 };
}

export async function runLoad(plan: DriverPlan, onProgress: (p: DriverProgress) => void = () => {}): Promise<RunResult> {
  if (plan.paths.length === 0) throw new Error('the workload has no URLs');
  if (plan.durationS === undefined && plan.requests === undefined) throw new Error('give a duration or a request count');
  const pool = new Pool(plan.origin, {
    connections: plan.connections,
    pipelining: 1,
    headersTimeout: plan.timeoutMs,
    bodyTimeout: plan.timeoutMs,
    keepAliveTimeout: 60_000,
  });
  // PURGEs and backend updates get their own connections, so they never queue behind the load.
  const purgePool = plan.purge && plan.purge.ratePerS > 0 ? new Pool(plan.origin, { connections: 4, pipelining: 1 }) : undefined;
  const updatePool = purgePool && plan.purge?.updateOrigin ? new Pool(plan.purge.updateOrigin, { connections: 4, pipelining: 1 }) : undefined;
  try {
    let warm: RunResult['warm'];
    if (plan.warm) {
      onProgress({ elapsedMs: 0, requests: 0, served: 0, anonRequests: 0, anonServed: 0, errors: 0, warming: true });
      warm = await warmAll(pool, plan.paths, plan.connections);
    }

    const rand = seededRandom(hashString(`load:${plan.seed}`));
    const zipf = new ZipfSampler(plan.paths.length, plan.zipfS, rand);
    const headersByKind = VISITOR_KINDS.map(visitorHeaders);
    const recorder = new LatencyRecorder();
    const timeline = new Timeline();
    const statuses: Record<string, number> = {};
    const errorCodes: Record<string, number> = {};
    let requests = 0;
    let served = 0;
    let hits = 0;
    let anonRequests = 0;
    let anonServed = 0;
    let bytes = 0;
    let errors = 0;
    let started = 0;

    const startedAt = new Date().toISOString();
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    const endAt = plan.durationS !== undefined ? t0 + plan.durationS * 1000 : Infinity;
    const limit = plan.requests ?? Infinity;
    const interval = plan.ratePerS ? 1000 / plan.ratePerS : 0;
    let ticket = 0;
    let stopped = false;
    const stopTimer = Number.isFinite(endAt) ? setTimeout(() => (stopped = true), endAt - t0) : undefined;

    const worker = async () => {
      while (!stopped && started < limit) {
        started++;
        let sentAt: number;
        if (interval > 0) {
          sentAt = t0 + ticket++ * interval;
          const wait = sentAt - performance.now();
          if (wait > 0) await sleep(wait);
        } else {
          sentAt = performance.now();
        }
        if (stopped || performance.now() >= endAt) break;
        const path = plan.paths[zipf.next()];
        const visitor = pickVisitor(plan.mix, rand);
        try {
          const a = await send(pool, 'GET', path, headersByKind[visitorIndex(visitor)]);
          const now = performance.now();
          const outcome: Outcome = outcomeOf(a.xCache);
          recorder.record(outcome, (now - sentAt) * 1000);
          timeline.response(now - t0, outcome, !visitor.loggedIn, a.bytes);
          requests++;
          bytes += a.bytes;
          statuses[a.status] = (statuses[a.status] ?? 0) + 1;
          const fromCache = servedFromCache(outcome);
          if (fromCache) served++;
          if (outcome === 'hit') hits++;
          if (!visitor.loggedIn) {
            anonRequests++;
            if (fromCache) anonServed++;
          }
        } catch (err) {
          errors++;
          const code = errorCode(err);
          errorCodes[code] = (errorCodes[code] ?? 0) + 1;
          timeline.error(performance.now() - t0);
          // A refused or dead target fails at once; do not spin the core the server needs.
          await sleep(10);
        }
      }
    };

    const purges: PurgeCounts = { sent: 0, purged: 0, notFound: 0, failed: 0, updated: 0 };
    const purgeWork: Promise<void>[] = [];
    let purgeTimer: NodeJS.Timeout | undefined;
    if (purgePool && plan.purge) {
      const schedule = new PurgeSchedule(plan.purge.ratePerS);
      const purgeRand = seededRandom(hashString(`purge:${plan.seed}`));
      const purgeZipf = new ZipfSampler(plan.paths.length, plan.zipfS, purgeRand);
      const purgeOne = async (path: string) => {
        // The page changes first, then the cache is told: what an editor's save does in a CMS.
        if (updatePool) {
          try {
            const u = await send(updatePool, 'POST', `/__bench/update?path=${encodeURIComponent(path)}`, {});
            if (u.status === 200) purges.updated++;
          } catch {
            // counted below as a failed purge only if the PURGE fails too
          }
        }
        purges.sent++;
        try {
          const a = await send(purgePool, 'PURGE', path, {});
          if (a.status === 200) purges.purged++;
          else if (a.status === 404) purges.notFound++;
          else purges.failed++;
        } catch {
          purges.failed++;
        }
      };
      const tick = () => {
        if (stopped) return;
        const elapsed = performance.now() - t0;
        for (let n = schedule.due(elapsed); n > 0; n--) purgeWork.push(purgeOne(plan.paths[purgeZipf.next()]));
        purgeTimer = setTimeout(tick, Math.min(250, Math.max(1, schedule.nextInMs(elapsed))));
      };
      tick();
    }

    const progress = () =>
      onProgress({ elapsedMs: performance.now() - t0, requests, served, anonRequests, anonServed, errors });
    const progressTimer = setInterval(progress, plan.progressEveryMs);
    try {
      await Promise.all(Array.from({ length: plan.connections }, worker));
    } finally {
      stopped = true;
      clearInterval(progressTimer);
      clearTimeout(stopTimer);
      clearTimeout(purgeTimer);
    }
    const durationS = (performance.now() - t0) / 1000;
    const cpu = process.cpuUsage(cpu0);
    progress();
    await Promise.all(purgeWork);

    const outcomes: RunResult['outcomes'] = {};
    for (const o of recorder.outcomes()) outcomes[o] = recorder.latency(o);
    return {
      label: plan.label,
      startedAt,
      connections: plan.connections,
      ratePerS: plan.ratePerS,
      durationS,
      requests,
      rps: durationS > 0 ? requests / durationS : 0,
      bytes,
      errors,
      errorCodes,
      statuses,
      outcomes,
      all: recorder.allLatency(),
      hitRate: requests > 0 ? served / requests : 0,
      hitOnlyRate: requests > 0 ? hits / requests : 0,
      anonymous: { requests: anonRequests, served: anonServed, hitRate: anonRequests > 0 ? anonServed / anonRequests : 0 },
      timeline: timeline.toJSON(),
      purges,
      warm,
      driverCpuPercent: durationS > 0 ? ((cpu.user + cpu.system) / 1e6 / durationS) * 100 : 0,
    };
  } finally {
    await Promise.all([pool.close(), purgePool?.close(), updatePool?.close()]);
  }
}
