// `memfront stat`: a varnishstat-like view of a running memfront, from its admin port's
// /metrics: hit ratio, requests per second by outcome, objects, memcached and backend state.
// Rates are the difference between two scrapes; --once prints one frame (two scrapes
// --interval apart) and exits, the default redraws every interval until Ctrl-C.
import { adminGet } from './admin-client.js';
import { promSamples, total, type PromSample } from './prom-samples.js';

export interface Scrape {
  at: number;
  samples: PromSample[];
}

export async function scrape(base: string): Promise<Scrape> {
  const got = await adminGet(base, '/metrics');
  if (got.status !== 200) throw new Error(`${base}/metrics answered ${got.status}`);
  return { at: Date.now(), samples: promSamples(got.body) };
}

const OUTCOMES = ['hit', 'miss', 'stale', 'bypass', 'none'];

function rate(prev: Scrape, cur: Scrape, name: string, where: Record<string, string> = {}): number {
  const seconds = Math.max(0.001, (cur.at - prev.at) / 1000);
  // A restarted memfront starts its counters again: no negative rates.
  return Math.max(0, total(cur.samples, name, where) - total(prev.samples, name, where)) / seconds;
}

const fixed = (n: number) => (n >= 100 ? n.toFixed(0) : n.toFixed(1));
const pct = (part: number, whole: number) => (whole > 0 ? `${((100 * part) / whole).toFixed(1)}%` : '-');

function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${i === 0 ? n.toFixed(0) : n.toFixed(1)} ${units[i]}`;
}

/** One frame of the view, from two scrapes (pure: what the tests check). */
export function statFrame(prev: Scrape, cur: Scrape): string {
  const s = cur.samples;
  const version = s.find((x) => x.name === 'memfront_build_info')?.labels.version ?? '?';
  const workers = s.some((x) => x.name === 'memfront_workers') ? `  workers ${total(s, 'memfront_workers')}` : '';
  const r = (name: string, where: Record<string, string> = {}) => rate(prev, cur, name, where);
  const byOutcome = OUTCOMES.map((cache) => [cache, r('memfront_requests_total', { cache })] as const);
  const all = byOutcome.reduce((a, [, v]) => a + v, 0);
  const hitsNow = r('memfront_requests_total', { cache: 'hit' });
  const lookupsNow = hitsNow + r('memfront_requests_total', { cache: 'miss' }) + r('memfront_requests_total', { cache: 'stale' });
  const hitsAll = total(s, 'memfront_requests_total', { cache: 'hit' });
  const lookupsAll = hitsAll + total(s, 'memfront_requests_total', { cache: 'miss' }) + total(s, 'memfront_requests_total', { cache: 'stale' });
  const servers = s.filter((x) => x.name === 'memfront_cache_server_up');
  const backendUp = s.find((x) => x.name === 'memfront_backend_up');
  const answers = ['2xx', '3xx', '4xx', '5xx'].map((c) => `${c} ${fixed(r('memfront_responses_total', { status_class: c }))}`).join('  ');
  const lines = [
    `memfront ${version}${workers}   ${new Date(cur.at).toISOString().replace('T', ' ').slice(0, 19)} UTC   (rates over ${((cur.at - prev.at) / 1000).toFixed(1)} s)`,
    '',
    `hit ratio     ${pct(hitsNow, lookupsNow)} now   ${pct(hitsAll, lookupsAll)} since start   (hits / hits+misses+stale)`,
    `requests/s    ${fixed(all)}   ${byOutcome.map(([k, v]) => `${k} ${fixed(v)}`).join('  ')}`,
    `hits/s        l1 ${fixed(r('memfront_cache_hits_total', { tier: 'l1' }))}  memcached ${fixed(r('memfront_cache_hits_total', { tier: 'memcached' }))}  memory ${fixed(r('memfront_cache_hits_total', { tier: 'memory' }))}`,
    `answers/s     ${answers}   memfront's own 5xx ${fixed(r('memfront_responses_total', { status_class: '5xx', source: 'memfront' }))}`,
    `backend       ${backendUp ? (backendUp.value === 1 ? 'up' : 'DOWN') : '?'}   requests/s ${fixed(r('memfront_backend_requests_total'))}   errors/s ${fixed(r('memfront_backend_errors_total'))}`,
    `objects       stored/s ${fixed(r('memfront_cache_stores_total'))}   L1 ${total(s, 'memfront_l1_entries')} entries, ${bytes(total(s, 'memfront_l1_bytes'))}   purges/s ${fixed(r('memfront_purges_total'))}`,
    `memcached     ${servers.length === 0 ? 'not used' : servers.map((x) => `${x.labels.server} ${x.value === 1 ? 'up' : 'DOWN'}`).join('  ')}   errors/s ${fixed(r('memfront_cache_errors_total'))}`,
    `traffic       ${bytes(r('memfront_served_bytes_total'))}/s served   ${bytes(r('memfront_saved_bytes_total'))}/s from the cache   in flight ${total(s, 'memfront_requests_in_flight')}`,
  ];
  return lines.join('\n') + '\n';
}

export interface StatOptions {
  base: string;
  once: boolean;
  intervalMs: number;
  out: NodeJS.WritableStream;
}

export async function runStat(o: StatOptions): Promise<void> {
  let prev = await scrape(o.base);
  const wait = () => new Promise((r) => setTimeout(r, o.intervalMs));
  for (;;) {
    await wait();
    const cur = await scrape(o.base);
    // Home and clear: a redraw in place, as top does.
    o.out.write((o.once ? '' : '\x1b[H\x1b[2J') + statFrame(prev, cur));
    if (o.once) return;
    prev = cur;
  }
}
