// The primary: forks the workers, replaces a crashed one (with backoff, so a crash loop does
// not spin), applies a SIGHUP reload once the file validates (all workers or none), drains
// every worker on SIGTERM, and serves the admin listener with the workers' metrics summed.
import cluster, { type Worker } from 'node:cluster';
import type http from 'node:http';
import { availableParallelism } from 'node:os';
import client from 'prom-client';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import { closeAdminServer, portOf, startAdminServer } from '../admin/admin-server.js';
import { HealthProbes } from '../admin/health.js';
import type { MetricsSnapshot } from '../admin/metrics.js';
import { ReloadMetrics } from '../admin/reload-metrics.js';
import { watchBackendProbe } from '../admin/probe-gauges.js';
import { VERSION } from '../admin/version.js';
import { planReload } from '../reload.js';
import { compileCidrs } from '../policy/forward-headers.js';
import type { InspectQuery, InspectReport } from '../admin/inspect.js';
import { errorFrom, isOurs, STOP_OVERRUN_MS, type SentError, type ToPrimary, type ToWorker } from './messages.js';
import { MetricsSum } from './metrics-sum.js';
import { RESTART_BACKOFF, restartDelay } from './restart-backoff.js';

/** Processes to run for `workers`: 0 means one per core. */
export function resolveWorkers(workers: number, cores: number = availableParallelism()): number {
  return workers === 0 ? Math.max(1, cores) : workers;
}

const METRICS_REPLY_MS = 2000;
const RELOAD_REPLY_MS = 15_000;

export interface PrimaryOptions {
  config: LoadedConfig;
  logger: Logger;
  /** The config read again as at start (same file, environment and arguments); throws ConfigError. */
  readConfig(): LoadedConfig;
}

interface Member {
  worker: Worker;
  id: number;
  pid: number;
  forkedAt: number;
  ready: boolean;
  /** The config generation it runs. */
  gen: number;
  /** Asked to stop (shutdown, or fewer workers after a reload): its exit is no crash. */
  leaving: boolean;
  startError?: SentError;
  /** Its metrics as last reported: what it had counted, kept when it dies. */
  lastMetrics?: MetricsSnapshot;
}

interface Pending {
  memberId: number;
  resolve(reply: ToPrimary | undefined): void;
}

class Primary {
  private config: LoadedConfig;
  private gen = 1;
  private target: number;
  private readonly members = new Map<number, Member>();
  private readonly crashes: number[] = [];
  private readonly scheduledForks = new Set<NodeJS.Timeout>();
  private readonly pending = new Map<number, Pending>();
  private seq = 0;
  private state: 'starting' | 'running' | 'stopping' = 'starting';
  private startup?: { resolve(): void; reject(err: unknown): void };
  private port = 0;
  private admin?: http.Server;
  private readonly health: HealthProbes;
  private readonly startedAt = Date.now();
  private exitCode = 0;
  private reloadBusy = false;
  private reloadAgain = false;

  private readonly registry = new client.Registry();
  private readonly workersGauge: client.Gauge = new client.Gauge({
    name: 'memfront_workers',
    help: 'Worker processes running (ready to serve)',
    registers: [this.registry],
    collect: () => {
      this.workersGauge.set([...this.members.values()].filter((m) => m.ready && !m.leaving).length);
    },
  });
  private readonly restarts = new client.Counter({
    name: 'memfront_worker_restarts_total',
    help: 'Workers started again after a crash',
    registers: [this.registry],
  });
  private readonly reloads = new ReloadMetrics(this.registry);
  private readonly sum = new MetricsSum(this.registry, () => this.log);

  constructor(private readonly o: PrimaryOptions) {
    this.config = o.config;
    this.target = resolveWorkers(o.config.workers);
    this.health = new HealthProbes(o.config);
    this.reloads.loaded();
    watchBackendProbe(this.registry, () => this.health.report());
  }

  private get log(): Logger {
    return this.o.logger;
  }

  async start(): Promise<void> {
    // The workers accept from the shared socket themselves (SCHED_NONE), not through the
    // primary's round-robin: a worker that dies takes only its own connections with it,
    // whereas the round-robin primary loses, and leaves hanging, every connection it was
    // handing to the worker as it died.
    cluster.schedulingPolicy = cluster.SCHED_NONE;
    cluster.on('message', (worker, msg) => this.onMessage(worker, msg));
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    process.on('SIGTERM', () => this.shutdown('SIGTERM'));
    process.on('SIGINT', () => this.shutdown('SIGINT'));
    process.on('SIGHUP', () => this.requestReload());
    process.on('uncaughtException', (err) => {
      this.log.fatal({ err }, 'uncaught exception');
      this.killAll();
      process.exit(1);
    });

    const ready = new Promise<void>((resolve, reject) => (this.startup = { resolve, reject }));
    for (let i = 0; i < this.target; i++) this.fork();
    try {
      await ready;
      this.admin = await this.openAdmin(this.config);
    } catch (err) {
      if (this.state === 'stopping') return;
      this.log.fatal({ err }, 'memfront failed to start');
      this.killAll();
      process.exit(1);
    }
    if (this.state === 'stopping') return;
    this.state = 'running';
    const c = this.config;
    this.log.info(
      { port: this.port, adminPort: portOf(this.admin!), workers: this.target, store: c.cache.enabled ? c.cache.store : 'off', backend: c.backend.url, nodeFlags: process.execArgv },
      'memfront listening',
    );
  }

  private openAdmin(c: LoadedConfig): Promise<http.Server> {
    return startAdminServer(c.admin.host, c.admin.port, {
      version: VERSION,
      startedAt: this.startedAt,
      health: () => this.health.report(),
      metricsText: () => this.metricsText(),
      serving: () => [...this.members.values()].some((m) => m.ready && !m.leaving),
      extra: async () => ({
        workers: [...this.members.values()].map((m) => ({
          id: m.id,
          pid: m.pid,
          ready: m.ready,
          uptime: Math.round((Date.now() - m.forkedAt) / 1000),
        })),
        workerRestarts: (await this.restarts.get()).values[0]?.value ?? 0,
      }),
      inspect: (q) => this.inspect(q),
      inspectAllowed: (ip) => compileCidrs(this.config.admin.purgeAllow)(ip),
    });
  }

  private fork(): void {
    // libuv then yields after each accept, so a burst of new connections is spread over the
    // workers instead of landing on whichever woke first.
    const worker = cluster.fork({ UV_TCP_SINGLE_ACCEPT: '1' });
    const m: Member = { worker, id: worker.id, pid: worker.process.pid ?? 0, forkedAt: Date.now(), ready: false, gen: 0, leaving: false };
    this.members.set(worker.id, m);
  }

  private send(m: Member, msg: ToWorker): boolean {
    if (!m.worker.isConnected()) return false;
    m.worker.send(msg, (err: Error | null) => {
      if (err) this.log.debug({ err, worker: m.id }, 'message to a worker not delivered');
    });
    return true;
  }

  /** Sends a request and resolves its reply, or undefined when none came in time. */
  private ask(m: Member, msg: ToWorker & { seq: number }, timeoutMs: number): Promise<ToPrimary | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), timeoutMs);
      const done = (reply: ToPrimary | undefined) => {
        clearTimeout(timer);
        this.pending.delete(msg.seq);
        resolve(reply);
      };
      this.pending.set(msg.seq, { memberId: m.id, resolve: done });
      if (!this.send(m, msg)) done(undefined);
    });
  }

  private onMessage(worker: Worker, msg: unknown): void {
    if (!isOurs(msg)) return; // prom-client and others have their own messages
    const m = this.members.get(worker.id);
    if (!m) return;
    const reply = msg as ToPrimary;
    switch (reply.mf) {
      case 'hello':
        this.send(m, this.state === 'stopping' ? { mf: 'stop' } : { mf: 'start', config: this.config, gen: this.gen });
        break;
      case 'ready':
        m.ready = true;
        m.gen = reply.gen;
        this.port = reply.port;
        this.log.info({ worker: m.id, workerPid: m.pid, port: reply.port }, 'worker started');
        // Forked while a reload was on its way: it missed the broadcast.
        if (reply.gen < this.gen) void this.reloadOne(m);
        if (this.state === 'starting' && [...this.members.values()].filter((x) => x.ready).length >= this.target) {
          this.startup?.resolve();
        }
        break;
      case 'start-failed':
        m.startError = reply.err;
        if (this.state === 'starting') this.startup?.reject(errorFrom(reply.err));
        else this.log.error({ worker: m.id, workerPid: m.pid, err: errorFrom(reply.err) }, 'worker failed to start');
        break;
      case 'reloaded':
      case 'metrics':
      case 'inspected':
        this.pending.get(reply.seq)?.resolve(reply);
        break;
    }
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const m = this.members.get(worker.id);
    if (!m) return;
    this.members.delete(worker.id);
    for (const p of [...this.pending.values()]) if (p.memberId === m.id) p.resolve(undefined);
    this.sum.keep(m);
    const facts = { worker: m.id, workerPid: m.pid, code, signal };

    if (this.state === 'stopping') {
      if (code !== 0) this.exitCode = 1;
      this.log.info(facts, 'worker stopped');
      if (this.members.size === 0) void this.finish();
      return;
    }
    if (m.leaving) {
      this.log.info(facts, 'worker retired');
      return;
    }
    if (this.state === 'starting') {
      this.startup?.reject(m.startError ? errorFrom(m.startError) : new Error(`worker ${m.id} exited while starting (code ${code}, signal ${signal})`));
      return;
    }
    const now = Date.now();
    this.crashes.push(now);
    while (this.crashes.length > 0 && now - this.crashes[0] >= RESTART_BACKOFF.windowMs) this.crashes.shift();
    const delayMs = restartDelay(this.crashes, now);
    this.log.error({ ...facts, restartInMs: delayMs }, 'worker exited; starting a new one');
    this.replaceLater(delayMs);
  }

  private replaceLater(delayMs: number): void {
    if (this.active() >= this.target) return;
    const timer = setTimeout(() => {
      this.scheduledForks.delete(timer);
      if (this.state !== 'running' || this.active() >= this.target) return;
      this.restarts.inc();
      this.fork();
    }, delayMs);
    this.scheduledForks.add(timer);
  }

  /** Workers running or starting, plus those waiting to be forked. */
  private active(): number {
    return [...this.members.values()].filter((m) => !m.leaving).length + this.scheduledForks.size;
  }

  private metricsText(): Promise<{ contentType: string; body: string }> {
    const live = [...this.members.values()].filter((m) => m.ready);
    return this.sum.text(live, async (r) => {
      const reply = await this.ask(r, { mf: 'metrics', seq: ++this.seq }, METRICS_REPLY_MS);
      return reply?.mf === 'metrics' ? reply.metrics : undefined;
    });
  }

  /** Any worker can answer: they share the store (the L1 copy it reports is that worker's). */
  private async inspect(q: InspectQuery): Promise<InspectReport> {
    const m = [...this.members.values()].find((x) => x.ready && !x.leaving);
    if (!m) throw new Error('no worker is running');
    const reply = await this.ask(m, { mf: 'inspect', seq: ++this.seq, query: q }, METRICS_REPLY_MS);
    if (reply?.mf !== 'inspected') throw new Error('the worker did not answer in time');
    if (reply.error) throw errorFrom(reply.error);
    return reply.report!;
  }

  private requestReload(): void {
    if (this.state !== 'running') {
      this.log.warn({ state: this.state }, 'SIGHUP ignored while not running');
      return;
    }
    if (this.reloadBusy) {
      this.reloadAgain = true;
      return;
    }
    this.reloadBusy = true;
    void this.reload()
      .catch((err) => this.log.error({ err }, 'config reload failed'))
      .finally(() => {
        this.reloadBusy = false;
        if (this.reloadAgain) {
          this.reloadAgain = false;
          this.requestReload();
        }
      });
  }

  private async reloadOne(m: Member): Promise<boolean> {
    const reply = await this.ask(m, { mf: 'reload', seq: ++this.seq, config: this.config, gen: this.gen }, RELOAD_REPLY_MS);
    if (reply?.mf === 'reloaded' && !reply.error) {
      m.gen = this.gen;
      return true;
    }
    const err = reply?.mf === 'reloaded' && reply.error ? errorFrom(reply.error) : new Error('no answer in time');
    this.log.error({ worker: m.id, workerPid: m.pid, err }, 'a worker could not apply the config');
    return false;
  }

  private async reload(): Promise<void> {
    let next: LoadedConfig;
    try {
      next = this.o.readConfig();
    } catch (err) {
      this.reloads.reloaded(false);
      this.log.error({ err }, 'config reload failed; keeping the running config');
      return;
    }
    const prev = this.config;
    const plan = planReload(prev, next);
    const target = resolveWorkers(next.workers);
    let newAdmin: http.Server | undefined;
    if (plan.rebindAdmin) {
      try {
        newAdmin = await this.openAdmin(next);
      } catch (err) {
        this.reloads.reloaded(false);
        this.log.error({ err }, 'config reload failed; keeping the running config');
        return;
      }
    }
    this.config = next;
    this.gen++;
    const live = [...this.members.values()].filter((m) => m.ready && !m.leaving);
    const applied = await Promise.all(live.map((m) => this.reloadOne(m)));
    if (applied.includes(false)) {
      // All or nothing: the workers that took the new config go back to the old one.
      this.config = prev;
      this.gen++;
      await Promise.all(live.filter((_, i) => applied[i]).map((m) => this.reloadOne(m)));
      if (newAdmin) await closeAdminServer(newAdmin);
      this.reloads.reloaded(false);
      this.log.error('config reload failed in a worker; keeping the running config');
      return;
    }
    if (newAdmin) {
      const old = this.admin;
      this.admin = newAdmin;
      if (old) void closeAdminServer(old);
    }
    this.log.level = next.log.level;
    this.health.setConfig(next);
    this.resize(target);
    this.reloads.reloaded(true);
    this.log.info({ changed: plan.changed, workers: target }, 'config reloaded');
    if (plan.needsRestart.length > 0) this.log.warn({ keys: plan.needsRestart }, 'these keys take effect on restart');
  }

  /** Forks or retires workers until `target` run. */
  private resize(target: number): void {
    this.target = target;
    let active = this.active();
    for (const timer of [...this.scheduledForks]) {
      if (active <= target) break;
      clearTimeout(timer);
      this.scheduledForks.delete(timer);
      active--;
    }
    // The newest go first: the oldest have the warmest state.
    const running = [...this.members.values()].filter((m) => !m.leaving).sort((a, b) => b.forkedAt - a.forkedAt);
    for (const m of running) {
      if (active <= target) break;
      m.leaving = true;
      if (!this.send(m, { mf: 'stop' })) m.worker.process.kill('SIGTERM');
      active--;
    }
    for (; active < target; active++) this.fork();
  }

  private shutdown(signal: NodeJS.Signals): void {
    if (this.state === 'stopping') {
      this.log.warn({ signal }, 'second signal: exiting at once');
      this.killAll();
      process.exit(1);
    }
    this.state = 'stopping';
    const graceMs = this.config.shutdownGraceMs;
    this.log.info({ signal, graceMs }, 'shutting down');
    for (const timer of this.scheduledForks) clearTimeout(timer);
    this.scheduledForks.clear();
    setTimeout(() => {
      this.log.error({ graceMs }, 'shutdown overran its grace period');
      this.killAll();
      process.exit(1);
    }, graceMs + STOP_OVERRUN_MS).unref();
    for (const m of this.members.values()) {
      m.leaving = true;
      if (!this.send(m, { mf: 'stop' })) m.worker.process.kill('SIGTERM');
    }
    if (this.members.size === 0) void this.finish();
  }

  private async finish(): Promise<void> {
    if (this.admin) await closeAdminServer(this.admin);
    this.log.info('stopped');
    process.exit(this.exitCode);
  }

  private killAll(): void {
    for (const m of this.members.values()) m.worker.process.kill('SIGKILL');
  }
}

/** Runs the primary: forks the workers and resolves once they all serve. Exits the process itself. */
export function runPrimary(o: PrimaryOptions): Promise<void> {
  return new Primary(o).start();
}
