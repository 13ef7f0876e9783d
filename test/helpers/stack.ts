// A whole memfront in one test: a real memcached (or the memory store), a counting fake
// backend, memfront itself on port 0, and a log sink whose JSON lines tests can assert on.
import http from 'node:http';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { createLogger } from '../../src/log.js';
import { startMemfront, type Memfront } from '../../src/server.js';
import type { CacheStore } from '../../src/store/cache-store.js';
import { listenOn } from './listen.js';

export type Handler = (req: http.IncomingMessage, res: http.ServerResponse) => void;

export interface FakeBackend {
  url: string;
  port: number;
  server: http.Server;
  /** Requests per path (path and query as received). */
  hits: Map<string, number>;
  total(): number;
  count(path: string): number;
  /** Headers of every request, in order. */
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  connections(): number;
  route(path: string, h: Handler): void;
  close(): Promise<void>;
}

export async function startBackend(routes: Record<string, Handler> = {}, fallback?: Handler): Promise<FakeBackend> {
  const table = new Map(Object.entries(routes));
  const hits = new Map<string, number>();
  const seen: FakeBackend['seen'] = [];
  let conns = 0;
  const server = http.createServer((req, res) => {
    const url = req.url ?? '/';
    hits.set(url, (hits.get(url) ?? 0) + 1);
    seen.push({ method: req.method ?? '', url, headers: req.headers });
    const path = url.split('?')[0];
    const h = table.get(url) ?? table.get(path) ?? fallback;
    if (h) h(req, res);
    else {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('no such page');
    }
  });
  server.on('connection', () => conns++);
  server.keepAliveTimeout = 30_000;
  const port = await listenOn(server);
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    server,
    hits,
    seen,
    total: () => [...hits.values()].reduce((a, b) => a + b, 0),
    count: (p) => hits.get(p) ?? 0,
    connections: () => conns,
    route: (p, h) => table.set(p, h),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface LogSink {
  stream: Writable;
  lines: Array<Record<string, any>>;
  requests(): Array<Record<string, any>>;
}

export function logSink(): LogSink {
  const lines: Array<Record<string, any>> = [];
  let partial = '';
  const stream = new Writable({
    write(chunk, _enc, cb) {
      partial += chunk.toString();
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.trim()) lines.push(JSON.parse(line));
      }
      cb();
    },
  });
  return { stream, lines, requests: () => lines.filter((l) => l.msg === 'request') };
}

/** A config from a temporary JSON file, through the real loader. */
export function configFrom(overrides: Record<string, unknown>): Config {
  const dir = mkdtempSync(join(tmpdir(), 'memfront-test-'));
  const file = join(dir, 'config.json');
  writeFileSync(file, JSON.stringify(overrides));
  return loadConfig({ file, args: [], env: {} });
}

export interface Stack {
  mf: Memfront;
  url: string;
  log: LogSink;
  config: Config;
  close(): Promise<void>;
}

/**
 * memfront on port 0. The L1 tier is off unless a test turns it on: most tests assert what
 * memcached holds, which a 1 s in-process copy would hide.
 */
export async function startStack(overrides: Record<string, any>, opts: { store?: CacheStore } = {}): Promise<Stack> {
  const cfg = configFrom(
    deepMerge(
      {
        listen: { host: '127.0.0.1', port: 0 },
        admin: { host: '127.0.0.1', port: 0, purgeAllow: ['127.0.0.1/32', '::1/128'] },
        cache: { l1: { maxBytes: 0 } },
      },
      overrides,
    ),
  );
  const log = logSink();
  const logger = createLogger({ level: 'info', pretty: false }, log.stream);
  const mf = await startMemfront(cfg, { logger, store: opts.store });
  return {
    mf,
    url: `http://127.0.0.1:${mf.port}`,
    log,
    config: cfg,
    close: () => mf.close(100),
  };
}

export interface Got {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

/** A plain node:http request (no automatic decompression, no connection pooling surprises). */
export function get(url: string, opts: { method?: string; headers?: Record<string, string>; agent?: http.Agent | false } = {}): Promise<Got> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: opts.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Waits until fn() is true, polling; fails after `ms`. */
export async function until(fn: () => boolean | Promise<boolean>, ms = 5000, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await sleep(10);
  }
  throw new Error(`timed out waiting for ${what}`);
}

function deepMerge(base: Record<string, any>, over: Record<string, any>): Record<string, any> {
  const out: Record<string, any> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const b = out[k];
    out[k] = v && typeof v === 'object' && !Array.isArray(v) && b && typeof b === 'object' && !Array.isArray(b) ? deepMerge(b, v) : v;
  }
  return out;
}
