// The admin listener: GET /healthz (JSON) and GET /metrics (Prometheus text).
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CacheStore } from '../store/cache-store.js';

export interface HealthSource {
  version: string;
  startedAt: number;
  store: CacheStore | null;
  /** Prometheus text for /metrics (aggregated across workers where there are several). */
  metricsText(): Promise<{ contentType: string; body: string }>;
  /** Extra sections (backend, trackers, static servers) for /healthz. */
  extra?(): Promise<Record<string, unknown>>;
}

export async function startAdminServer(host: string, port: number, src: HealthSource): Promise<http.Server> {
  const server = http.createServer((req, res) => {
    void route(req, res, src).catch((err) => {
      res.writeHead(500, { 'Content-Type': 'text/plain' });
      res.end(String(err?.message ?? err));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return server;
}

async function route(req: http.IncomingMessage, res: http.ServerResponse, src: HealthSource): Promise<void> {
  const path = (req.url ?? '/').split('?')[0];
  if (req.method !== 'GET' && req.method !== 'HEAD') {
    res.writeHead(405, { Allow: 'GET, HEAD' });
    res.end();
    return;
  }
  if (path === '/healthz') {
    const servers = src.store?.status() ?? [];
    const up = servers.length > 0 && servers.some((s) => s.up);
    const body = JSON.stringify({
      status: 'ok',
      cache: src.store ? (up ? 'up' : 'down') : 'off',
      cacheServers: servers,
      uptime: Math.round((Date.now() - src.startedAt) / 1000),
      version: src.version,
      pid: process.pid,
      ...(src.extra ? await src.extra() : {}),
    });
    res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
    res.end(req.method === 'HEAD' ? undefined : body);
    return;
  }
  if (path === '/metrics') {
    const m = await src.metricsText();
    res.writeHead(200, { 'Content-Type': m.contentType });
    res.end(req.method === 'HEAD' ? undefined : m.body);
    return;
  }
  res.writeHead(404, { 'Content-Type': 'text/plain' });
  res.end('Not found\n');
}

export function portOf(server: http.Server): number {
  return (server.address() as AddressInfo).port;
}
