// The static-server prober: which of static.servers has a file, asked with HEAD for the
// request's own path (Apache2::Mogile::Dispatch HEADed the server's bare URL, which tells
// nothing about the file). The answer is remembered for a short time, so a hot path costs
// one HEAD per ttl; a server that fails to answer at all is marked down and skipped until
// deadMs have passed, so a dead server does not cost a connect attempt per request.
//
// node:http rather than undici: undici closes the connection after every HEAD (to survive
// servers that send a body anyway), so every probe would pay a new connection.
import http from 'node:http';
import https from 'node:https';
import { ConfigError } from '../errors.js';
import { PathMemo } from './path-memo.js';

export interface StaticServerStatus {
  server: string;
  up: boolean;
}

export interface StaticServersOptions {
  /** Base URLs ("http://host:port", optionally with a path prefix), asked in this order. */
  servers: string[];
  connectTimeoutMs?: number;
  /** How long a HEAD may wait for its answer. */
  timeoutMs?: number;
  /** How long a server that failed to answer is skipped. */
  deadMs?: number;
  /** How long path → server answers are remembered; 0 = ask every time. */
  memoTtlMs?: number;
  memoMaxEntries?: number;
  /** Keep-alive connections per server. */
  connections?: number;
  now?: () => number;
}

export const STATIC_DEFAULTS = {
  connectTimeoutMs: 250,
  timeoutMs: 1000,
  deadMs: 5000,
  memoTtlMs: 5000,
  connections: 32,
} as const;

interface Server {
  /** As configured, trailing slash removed: what find() returns and the route fetches from. */
  base: string;
  secure: boolean;
  /** For http.request: no brackets around an IPv6 literal. */
  hostname: string;
  port: number;
  /** Path prefix of the base URL ("" for none). */
  prefix: string;
  downUntil: number;
}

export class StaticServers {
  private readonly servers: Server[];
  private readonly httpAgent: http.Agent;
  private readonly httpsAgent: https.Agent;
  private readonly connectTimeoutMs: number;
  private readonly memo: PathMemo<string | null>;
  private readonly timeoutMs: number;
  private readonly deadMs: number;
  private readonly now: () => number;

  constructor(o: StaticServersOptions) {
    this.servers = o.servers.map(parseBase);
    this.timeoutMs = o.timeoutMs ?? STATIC_DEFAULTS.timeoutMs;
    this.deadMs = o.deadMs ?? STATIC_DEFAULTS.deadMs;
    this.now = o.now ?? Date.now;
    this.connectTimeoutMs = o.connectTimeoutMs ?? STATIC_DEFAULTS.connectTimeoutMs;
    const connections = o.connections ?? STATIC_DEFAULTS.connections;
    const agentOpts = { keepAlive: true, maxSockets: connections, maxFreeSockets: connections, scheduling: 'lifo' as const };
    this.httpAgent = new http.Agent(agentOpts);
    this.httpsAgent = new https.Agent(agentOpts);
    this.memo = new PathMemo({ ttlMs: o.memoTtlMs ?? STATIC_DEFAULTS.memoTtlMs, maxEntries: o.memoMaxEntries, now: this.now });
  }

  /**
   * The base URL of the first server (in configured order, skipping those marked down) that
   * answers HEAD `<base><pathAndQuery>` with 2xx or 3xx; null when none has it. Never throws:
   * a server that fails is marked down and the next one asked.
   */
  find(pathAndQuery: string): Promise<string | null> {
    // A remembered server marked down since (by a HEAD or a failed fetch) is not trusted.
    const known = this.memo.get(pathAndQuery);
    if (known && this.isDown(known)) this.memo.forget(pathAndQuery);
    return this.memo.load(pathAndQuery, () => this.probe(pathAndQuery), (server) => server !== null);
  }

  /** The file at the remembered server failed to come: ask the servers again next time. */
  forget(pathAndQuery: string): void {
    this.memo.forget(pathAndQuery);
  }

  /** A fetch from `server` could not connect: skip it for deadMs, as a failed HEAD would. */
  markDown(server: string): void {
    const s = this.servers.find((x) => x.base === trimSlash(server));
    if (s) s.downUntil = this.now() + this.deadMs;
  }

  /** The URL of `pathAndQuery` on `server` (a base returned by find). */
  urlFor(server: string, pathAndQuery: string): string {
    return trimSlash(server) + pathAndQuery;
  }

  status(): StaticServerStatus[] {
    const now = this.now();
    return this.servers.map((s) => ({ server: s.base, up: s.downUntil <= now }));
  }

  async close(): Promise<void> {
    this.memo.clear();
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private isDown(base: string): boolean {
    const s = this.servers.find((x) => x.base === base);
    return s !== undefined && s.downUntil > this.now();
  }

  private async probe(pathAndQuery: string): Promise<string | null> {
    for (const s of this.servers) {
      if (s.downUntil > this.now()) continue;
      const verdict = await this.head(s, pathAndQuery);
      if (verdict === 'has') return s.base;
      if (verdict === 'unaskable') return null;
    }
    return null;
  }

  private async head(s: Server, pathAndQuery: string): Promise<'has' | 'hasnt' | 'unaskable'> {
    let answer = await this.headOnce(s, pathAndQuery);
    // A pooled connection the server closed while idle is not the server failing: one more
    // try, on a fresh connection, decides (the retry Node's docs give for reusedSocket).
    if (answer === 'stale') answer = await this.headOnce(s, pathAndQuery);
    if (answer === 'failed' || answer === 'stale') {
      s.downUntil = this.now() + this.deadMs;
      return 'hasnt';
    }
    if (answer !== 'unaskable') s.downUntil = 0;
    return answer;
  }

  private headOnce(s: Server, pathAndQuery: string): Promise<'has' | 'hasnt' | 'unaskable' | 'failed' | 'stale'> {
    return new Promise((resolve) => {
      let req: http.ClientRequest;
      try {
        req = (s.secure ? https : http).request({
          agent: s.secure ? this.httpsAgent : this.httpAgent,
          hostname: s.hostname,
          port: s.port,
          path: s.prefix + pathAndQuery,
          method: 'HEAD',
        });
      } catch {
        // A path Node refuses to send (ERR_UNESCAPED_CHARACTERS) is the request's fault, not the server's.
        resolve('unaskable');
        return;
      }
      let connectTimer: NodeJS.Timeout | undefined;
      // One deadline from asking to the status line, wherever the time goes.
      const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
      const settle = (v: 'has' | 'hasnt' | 'failed' | 'stale') => {
        clearTimeout(deadline);
        clearTimeout(connectTimer);
        resolve(v);
      };
      req.on('socket', (socket) => {
        if (!socket.connecting) return;
        connectTimer = setTimeout(() => req.destroy(new Error(`no connection within ${this.connectTimeoutMs} ms`)), this.connectTimeoutMs);
        socket.once('connect', () => clearTimeout(connectTimer));
      });
      req.on('response', (res) => {
        res.resume();
        const status = res.statusCode ?? 0;
        // 2xx: it has the file; 3xx: it knows where the file is, and the client follows it.
        settle(status >= 200 && status < 400 ? 'has' : 'hasnt');
      });
      req.on('error', (err) => {
        const code = (err as { code?: string }).code;
        settle(req.reusedSocket && (code === 'ECONNRESET' || code === 'EPIPE') ? 'stale' : 'failed');
      });
      req.end();
    });
  }
}

function trimSlash(url: string): string {
  return url.replace(/\/+$/, '');
}

function parseBase(base: string): Server {
  let u: URL;
  try {
    u = new URL(base);
  } catch (err) {
    throw new ConfigError(`static.servers: "${base}" is not a URL`, { cause: err });
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ConfigError(`static.servers: "${base}" is not http or https`);
  if (u.search || u.hash) throw new ConfigError(`static.servers: "${base}" must not have a query or fragment`);
  const secure = u.protocol === 'https:';
  return {
    base: trimSlash(base),
    secure,
    hostname: u.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: u.port ? Number(u.port) : secure ? 443 : 80,
    prefix: trimSlash(u.pathname),
    downUntil: 0,
  };
}
