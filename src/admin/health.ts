// What /healthz says about the servers memfront depends on. Each is probed cheaply (memcached
// `version` and a get in the cache's own protocol, cache-probe.ts; a TCP connect to the
// backend, trackers and static servers) and the answers are kept
// for a moment, so a load balancer polling every second costs one round of probes a second.
import type { Config } from '../config/types.js';
import { probeCacheServer } from './cache-probe.js';
import { probeTcp, splitHostPort, urlHostPort, type ProbeResult } from './probe.js';

export interface ServerHealth {
  server: string;
  up: boolean;
  ms: number;
  detail: string;
}

export interface HealthReport {
  /** "up" when every memcached server answers, "down" when any does not, "off" without a cache. */
  cache: 'up' | 'down' | 'off';
  cacheServers: ServerHealth[];
  backend: { url: string; reachable: boolean; ms: number; detail: string };
  trackers?: ServerHealth[];
  staticServers?: ServerHealth[];
}

export interface HealthOptions {
  /** How long one round of answers is reused (ms). */
  ttlMs?: number;
  /** Each probe's own limit (ms). */
  timeoutMs?: number;
  now?: () => number;
}

/**
 * The cache's state from its servers' answers. A pool with one server out still caches the
 * rest of the keys, but its misses are real: "down" tells the operator, and cacheServers says which.
 */
export function cacheState(cfg: Pick<Config, 'cache'>, servers: ServerHealth[]): HealthReport['cache'] {
  if (!cfg.cache.enabled) return 'off';
  return servers.length > 0 && servers.every((s) => s.up) ? 'up' : 'down';
}

/** Where requests for the backend go: the offload base on an offload server. */
export function backendUrl(cfg: Pick<Config, 'backend' | 'offload'>): string {
  return cfg.offload.base !== '' ? cfg.offload.base : cfg.backend.url;
}

const asServer = (server: string, r: ProbeResult): ServerHealth => ({ server, up: r.ok, ms: r.ms, detail: r.detail });

export class HealthProbes {
  private cfg: Config;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly now: () => number;
  private last?: { at: number; report: Promise<HealthReport> };

  constructor(cfg: Config, opts: HealthOptions = {}) {
    this.cfg = cfg;
    this.ttlMs = opts.ttlMs ?? 1000;
    this.timeoutMs = opts.timeoutMs ?? 1000;
    this.now = opts.now ?? Date.now;
  }

  /** A reloaded config: the next report probes its servers. */
  setConfig(cfg: Config): void {
    this.cfg = cfg;
    this.last = undefined;
  }

  /** Concurrent callers within ttlMs share one round of probes. */
  report(): Promise<HealthReport> {
    const now = this.now();
    if (!this.last || now - this.last.at >= this.ttlMs) this.last = { at: now, report: this.probe(this.cfg) };
    return this.last.report;
  }

  private async probe(cfg: Config): Promise<HealthReport> {
    const t = this.timeoutMs;
    const cacheServers: Promise<ServerHealth[]> = !cfg.cache.enabled
      ? Promise.resolve([])
      : cfg.cache.store === 'memory'
        ? Promise.resolve([{ server: 'memory', up: true, ms: 0, detail: 'in process' }])
        : Promise.all(cfg.cache.memcached.servers.map(async (s) => asServer(s, await probeCacheServer(s, cfg.cache.memcached.protocol, t))));
    const url = backendUrl(cfg);
    const { host, port } = urlHostPort(url);
    // A connect, not a request: a CMS should not see a health check in its logs every second.
    const backend = probeTcp(host, port, t);
    const trackers = Promise.all(
      cfg.mogile.trackers.map(async (s) => {
        const hp = splitHostPort(s);
        return asServer(s, await probeTcp(hp.host, hp.port, t));
      }),
    );
    const statics = Promise.all(
      cfg.static.servers.map(async (s) => {
        const hp = urlHostPort(s);
        return asServer(s, await probeTcp(hp.host, hp.port, t));
      }),
    );
    const [servers, b, tr, st] = await Promise.all([cacheServers, backend, trackers, statics]);
    const report: HealthReport = {
      cache: cacheState(cfg, servers),
      cacheServers: servers,
      backend: { url, reachable: b.ok, ms: b.ms, detail: b.detail },
    };
    if (tr.length > 0) report.trackers = tr;
    if (st.length > 0) report.staticServers = st;
    return report;
  }
}
