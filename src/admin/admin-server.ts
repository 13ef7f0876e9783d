// The admin listener: GET /healthz (JSON), GET /metrics (Prometheus text) and GET /inspect
// (what is stored for a URL; admin.purgeAllow only). With workers it runs in the primary, and
// the sources below gather what the workers know.
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { HealthReport } from './health.js';
import { inspectQuery, type InspectQuery, type InspectReport } from './inspect.js';

export interface HealthSource {
  version: string;
  startedAt: number;
  /** The servers memfront depends on, as last probed. */
  health(): Promise<HealthReport>;
  /** Prometheus text for /metrics (aggregated across workers where there are several). */
  metricsText(): Promise<{ contentType: string; body: string }>;
  /**
   * False while no process can answer requests (every worker crashed and waiting to be
   * restarted): /healthz then answers 503, so a load balancer stops sending traffic here.
   */
  serving?(): boolean;
  /** Extra sections (workers; later trackers, static servers) for /healthz. */
  extra?(): Promise<Record<string, unknown>>;
  /** GET /inspect: what is stored for a URL (inspect.ts). */
  inspect?(q: InspectQuery): Promise<InspectReport>;
  /**
   * Who may ask /inspect: the sources that may PURGE. What is cached, under which tags, is the
   * site's structure; the admin port may be bound wider than loopback.
   */
  inspectAllowed?(ip: string): boolean;
}

export async function startAdminServer(host: string, port: number, src: HealthSource): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    void route(req, res, src).catch((err) => {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });
  // An admin scrape must not keep a closing memfront waiting.
  server.keepAliveTimeout = 2000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** Closes the listener and the scrapers' idle keep-alive connections with it. */
export function closeAdminServer(server: http.Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}

async function route(req: http.IncomingMessage, res: http.ServerResponse, src: HealthSource): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' });
    res.end();
    return;
  }
  if (path === '/healthz') {
    const serving = src.serving?.() ?? true;
    const [health, extra] = await Promise.all([src.health(), src.extra?.() ?? {}]);
    const body = JSON.stringify({
      // The contract: memfront still serves when the cache is down, so that stays "ok"/200.
      status: serving ? 'ok' : 'unavailable',
      ...health,
      uptime: Math.round((Date.now() - src.startedAt) / 1000),
      version: src.version,
      pid: process.pid,
      ...extra,
    });
    res.writeHead(serving ? 200 : 503, {
      'Content-Type': 'application/json',
      'Content-Length': Buffer.byteLength(body),
      'Cache-Control': 'no-store',
    });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path === '/metrics') {
    const m = await src.metricsText();
    res.writeHead(200, { 'Content-Type': m.contentType, 'Cache-Control': 'no-store' });
    res.end(req.method === 'HEAD' ? undefined : m.body);
    return;
  }
  if (path === '/inspect' && src.inspect) {
    if (!(src.inspectAllowed?.(req.socket.remoteAddress ?? '') ?? false)) return json(res, 403, { error: 'not in admin.purgeAllow' });
    const q = inspectQuery(new URLSearchParams((req.url ?? '').split('?')[1] ?? ''));
    if (typeof q === 'string') return json(res, 400, { error: q });
    return json(res, 200, await src.inspect(q), req.method === 'HEAD');
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not found\n');
}

function json(res: http.ServerResponse, status: number, value: unknown, head = false): void {
  const body = JSON.stringify(value);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body), 'Cache-Control': 'no-store' });
  res.end(head ? undefined : body);
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
