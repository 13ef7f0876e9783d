// `memfront check`: with the config already validated, asks every server it names whether it
// answers (memcached `version`, HEAD / of the backend and the HTTP servers, `noop` to the
// trackers) and prints a table. Exit status 0 when all answer, 1 otherwise. With --offline it
// stops at the validation and lists the servers without contacting any (a build or deploy
// host need not reach production).
import type { Config } from './config/types.js';
import { backendUrl } from './admin/health.js';
import { probeHttp, probeMemcached, probeTracker, type ProbeResult } from './admin/probe.js';

export interface CheckTarget {
  /** What the server is for: "memcached", "backend", "tracker", "static", "reproxy images", "offload". */
  name: string;
  address: string;
  kind: 'memcached' | 'http' | 'tracker';
}

export interface CheckRow extends CheckTarget, ProbeResult {}

/** Long enough for a server across a network; check is run by hand, not per request. */
const PROBE_TIMEOUT_MS = 2000;

/** Every server the config sends traffic to, each once per role. */
export function checkTargets(cfg: Config): CheckTarget[] {
  const targets: CheckTarget[] = [];
  if (cfg.cache.enabled && cfg.cache.store === 'memcached') {
    for (const s of cfg.cache.memcached.servers) targets.push({ name: 'memcached', address: s, kind: 'memcached' });
  }
  const base = backendUrl(cfg);
  targets.push({ name: cfg.offload.base !== '' ? 'offload base' : 'backend', address: new URL('/', base).href, kind: 'http' });
  for (const t of cfg.mogile.trackers) targets.push({ name: 'tracker', address: t, kind: 'tracker' });
  for (const s of cfg.static.servers) targets.push({ name: 'static', address: new URL('/', s).href, kind: 'http' });
  if (cfg.reproxy.enabled) {
    for (const [service, servers] of Object.entries(cfg.reproxy.services)) {
      for (const s of servers) targets.push({ name: `reproxy ${service}`, address: new URL('/', s).href, kind: 'http' });
    }
  }
  const offloadServers = new Set(cfg.routes.flatMap((r) => (r.to === 'offload' ? (r.servers ?? []) : [])));
  for (const s of offloadServers) targets.push({ name: 'offload', address: new URL('/', s).href, kind: 'http' });
  return targets;
}

function probe(t: CheckTarget, timeoutMs: number): Promise<ProbeResult> {
  switch (t.kind) {
    case 'memcached':
      return probeMemcached(t.address, timeoutMs);
    case 'tracker':
      return probeTracker(t.address, timeoutMs);
    case 'http':
      return probeHttp(t.address, timeoutMs);
  }
}

export async function runChecks(cfg: Config, timeoutMs = PROBE_TIMEOUT_MS): Promise<CheckRow[]> {
  return Promise.all(checkTargets(cfg).map(async (t) => ({ ...t, ...(await probe(t, timeoutMs)) })));
}

/** The table `memfront check` prints: one row per server, columns padded to fit. */
export function formatCheckTable(rows: CheckRow[]): string {
  const head = ['WHAT', 'ADDRESS', 'RESULT', 'LATENCY', 'DETAIL'];
  const cells = rows.map((r) => [r.name, r.address, r.ok ? 'ok' : 'FAIL', r.ok ? `${r.ms.toFixed(1)} ms` : '-', r.detail]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i].length)));
  const line = (c: string[]) => c.map((v, i) => (i === c.length - 1 ? v : v.padEnd(widths[i]))).join('  ').trimEnd();
  return [line(head), ...cells.map(line)].join('\n') + '\n';
}

export async function runCheck(cfg: Config, out: NodeJS.WritableStream = process.stdout): Promise<number> {
  const rows = await runChecks(cfg);
  const failed = rows.filter((r) => !r.ok).length;
  out.write('config: valid\n\n');
  out.write(formatCheckTable(rows));
  out.write(failed === 0 ? `\nall ${rows.length} answer\n` : `\n${rows.length - failed} of ${rows.length} answer; ${failed} do not\n`);
  return failed === 0 ? 0 : 1;
}

/** `memfront check --offline`: the config is valid (or it would not get here); nothing is contacted. */
export function runOfflineCheck(cfg: Config, out: NodeJS.WritableStream = process.stdout): number {
  const targets = checkTargets(cfg);
  const width = Math.max(4, ...targets.map((t) => t.name.length));
  out.write('config: valid\n\n');
  out.write(`servers it names (not contacted: --offline):\n${'WHAT'.padEnd(width)}  ADDRESS\n`);
  for (const t of targets) out.write(`${t.name.padEnd(width)}  ${t.address}\n`);
  return 0;
}
