// The MogileFS tracker client: get_paths over the real line protocol, across several trackers
// as MogileFS::Client does it: start at a random tracker, skip one marked dead (for deadMs
// after it failed), a short connect timeout, and on a failure to connect or to answer in
// time, the next tracker. A tracker that answers, even with ERR, is final.
//
// Connections are reused, one question at a time each. The reply is buffered to its line
// end (it may arrive in pieces). A connection whose question timed out is closed, never
// pooled: its late reply would otherwise be read as the answer to the next question.
import net from 'node:net';
import { ConfigError, UpstreamError } from '../errors.js';
import { encodeGetPaths, MAX_REPLY_BYTES, parseReply, pathsFrom, type Reply } from '../policy/mogile-protocol.js';
import { PathMemo } from './path-memo.js';

export type PathsResult =
  | { kind: 'paths'; paths: string[] }
  | { kind: 'unknown-key' }
  | { kind: 'error'; code: string; message: string };

export interface TrackerStatus {
  tracker: string;
  up: boolean;
}

export interface MogileTrackersOptions {
  /** "host:port" (port 7001 when left out), "[v6]:port". */
  trackers: string[];
  /** How long a tracker may take to answer once asked (mogile.timeoutMs). */
  timeoutMs: number;
  connectTimeoutMs?: number;
  /** How long a tracker that failed is skipped. */
  deadMs?: number;
  /** Paths asked for when getPaths is not told. */
  pathcount?: number;
  /** How long key → paths answers are remembered; 0 = ask every time. */
  memoTtlMs?: number;
  memoMaxEntries?: number;
  /** Idle connections kept per tracker. */
  maxIdlePerTracker?: number;
  /** An idle connection unused this long is closed. */
  idleTimeoutMs?: number;
  now?: () => number;
  /** In [0, 1): picks the tracker each question starts at. */
  random?: () => number;
}

export const TRACKER_DEFAULTS = {
  connectTimeoutMs: 250,
  // MogileFS::Backend retries a dead tracker after 5 s.
  deadMs: 5000,
  // MogileFS::Client's get_paths default.
  pathcount: 2,
  memoTtlMs: 3000,
  maxIdlePerTracker: 8,
  idleTimeoutMs: 30_000,
} as const;

const DEFAULT_TRACKER_PORT = 7001;

/** Why one tracker did not answer; `retryFresh` marks a pooled connection that had gone stale. */
class TrackerFailure extends Error {
  constructor(message: string, readonly retryFresh: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** One TCP connection to a tracker: one question at a time, the reply buffered to its line end. */
class Conn {
  private chunks: Buffer[] = [];
  private received = 0;
  private waiting?: { resolve(line: string): void; reject(e: TrackerFailure): void; timer: NodeJS.Timeout };
  private gone = false;
  /** Whether this connection has answered before: a failure before any byte is then a stale socket. */
  private reused = false;

  constructor(readonly socket: net.Socket, private readonly name: string, private readonly onGone: (c: Conn) => void) {
    socket.on('data', (d: Buffer) => this.onData(d));
    socket.on('error', (err) => this.fail(`${name}: ${errText(err)}`, err));
    socket.on('close', () => this.fail(`${name}: connection closed before the reply`));
    // Only idle connections use the socket's own timer; a question has its own deadline.
    socket.on('timeout', () => {
      if (!this.waiting) this.destroy();
    });
  }

  get closed(): boolean {
    return this.gone;
  }

  ask(line: string, timeoutMs: number): Promise<string> {
    return new Promise((resolve, reject) => {
      if (this.gone) {
        reject(new TrackerFailure(`${this.name}: connection closed`, this.reused));
        return;
      }
      this.socket.ref();
      const timer = setTimeout(() => this.fail(`${this.name}: no reply within ${timeoutMs} ms`, undefined, true), timeoutMs);
      this.waiting = { resolve, reject, timer };
      this.chunks = [];
      this.received = 0;
      this.socket.write(line);
    });
  }

  idle(idleTimeoutMs: number): void {
    this.reused = true;
    this.socket.setTimeout(idleTimeoutMs);
    // An idle pooled connection must not keep the process alive.
    this.socket.unref();
  }

  destroy(): void {
    if (this.gone) return;
    this.gone = true;
    this.socket.destroy();
    this.onGone(this);
  }

  private onData(d: Buffer): void {
    // Bytes nobody asked for: the stream is out of step with our questions, so never reuse it.
    if (!this.waiting) {
      this.destroy();
      return;
    }
    this.chunks.push(d);
    this.received += d.length;
    const nl = d.indexOf(0x0a);
    if (nl < 0) {
      if (this.received > MAX_REPLY_BYTES) this.fail(`${this.name}: reply longer than ${MAX_REPLY_BYTES} bytes`);
      return;
    }
    const all = this.chunks.length === 1 ? d : Buffer.concat(this.chunks);
    const end = all.length - (d.length - nl);
    const w = this.waiting;
    this.waiting = undefined;
    clearTimeout(w.timer);
    // More than one line for one question: the stream is out of step too.
    if (end + 1 < all.length) this.destroy();
    w.resolve(all.subarray(0, end).toString('utf8'));
  }

  private fail(message: string, cause?: unknown, timedOut = false): void {
    const w = this.waiting;
    this.waiting = undefined;
    const gotBytes = this.received > 0;
    // Closed on every failure, above all on a timeout: a late reply must never be read as the
    // answer to the next question.
    this.destroy();
    if (!w) return;
    clearTimeout(w.timer);
    w.reject(new TrackerFailure(message, this.reused && !timedOut && !gotBytes, { cause }));
  }
}

interface Tracker {
  name: string;
  host: string;
  port: number;
  deadUntil: number;
  idle: Conn[];
}

export class MogileTrackers {
  private readonly trackers: Tracker[];
  private readonly open = new Set<Conn>();
  private readonly memo: PathMemo<PathsResult>;
  private readonly timeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly deadMs: number;
  private readonly pathcount: number;
  private readonly maxIdle: number;
  private readonly idleTimeoutMs: number;
  private readonly now: () => number;
  private readonly random: () => number;
  private closed = false;

  constructor(o: MogileTrackersOptions) {
    this.trackers = o.trackers.map((t) => ({ name: t, ...parseHostPort(t), deadUntil: 0, idle: [] }));
    this.timeoutMs = o.timeoutMs;
    this.connectTimeoutMs = o.connectTimeoutMs ?? TRACKER_DEFAULTS.connectTimeoutMs;
    this.deadMs = o.deadMs ?? TRACKER_DEFAULTS.deadMs;
    this.pathcount = o.pathcount ?? TRACKER_DEFAULTS.pathcount;
    this.maxIdle = o.maxIdlePerTracker ?? TRACKER_DEFAULTS.maxIdlePerTracker;
    this.idleTimeoutMs = o.idleTimeoutMs ?? TRACKER_DEFAULTS.idleTimeoutMs;
    this.now = o.now ?? Date.now;
    this.random = o.random ?? Math.random;
    this.memo = new PathMemo({ ttlMs: o.memoTtlMs ?? TRACKER_DEFAULTS.memoTtlMs, maxEntries: o.memoMaxEntries, now: this.now });
  }

  /**
   * The paths of `key`, from the memo or the trackers. Throws UpstreamError
   * MF_TRACKER_UNAVAILABLE when no tracker answers (every one refused, timed out, or is
   * still marked dead).
   */
  getPaths(domain: string, key: string, pathcount = this.pathcount): Promise<PathsResult> {
    return this.memo.load(memoKey(domain, key), () => this.query(domain, key, pathcount), worthRemembering);
  }

  /** A path of `key` failed: ask the trackers again next time. */
  forget(domain: string, key: string): void {
    this.memo.forget(memoKey(domain, key));
  }

  status(): TrackerStatus[] {
    const now = this.now();
    return this.trackers.map((t) => ({ tracker: t.name, up: t.deadUntil <= now }));
  }

  close(): void {
    this.closed = true;
    for (const c of [...this.open]) c.destroy();
    this.memo.clear();
  }

  private async query(domain: string, key: string, pathcount: number): Promise<PathsResult> {
    if (this.closed) throw new UpstreamError('MF_TRACKER_UNAVAILABLE', 'tracker client is closed');
    const line = encodeGetPaths({ domain, key, noverify: true, pathcount });
    const order = this.rotation();
    if (order.length === 0) {
      const why = this.trackers.length === 0 ? 'no trackers configured' : `every tracker is marked dead (${this.trackers.map((t) => t.name).join(', ')})`;
      throw new UpstreamError('MF_TRACKER_UNAVAILABLE', why);
    }
    const failures: string[] = [];
    let lastCause: unknown;
    for (const t of order) {
      let reply: Reply;
      try {
        reply = await this.ask(t, line);
      } catch (err) {
        t.deadUntil = this.now() + this.deadMs;
        failures.push(err instanceof Error ? err.message : String(err));
        // The socket's own error (ECONNREFUSED…) when there is one: the message already names the tracker.
        lastCause = err instanceof TrackerFailure && err.cause !== undefined ? err.cause : err;
        continue;
      }
      t.deadUntil = 0;
      return resultOf(reply);
    }
    throw new UpstreamError('MF_TRACKER_UNAVAILABLE', `no tracker answered: ${failures.join('; ')}`, { cause: lastCause });
  }

  /** The trackers not marked dead, starting at a random one. */
  private rotation(): Tracker[] {
    const n = this.trackers.length;
    if (n === 0) return [];
    const now = this.now();
    const start = Math.min(n - 1, Math.floor(this.random() * n));
    const out: Tracker[] = [];
    for (let i = 0; i < n; i++) {
      const t = this.trackers[(start + i) % n];
      if (t.deadUntil <= now) out.push(t);
    }
    return out;
  }

  private async ask(t: Tracker, line: string): Promise<Reply> {
    const pooled = this.checkout(t);
    if (pooled) {
      try {
        return await this.exchange(t, pooled, line);
      } catch (err) {
        // A pooled connection the tracker closed while it sat idle is not the tracker's
        // failure: one more try on a fresh connection decides.
        if (!(err instanceof TrackerFailure && err.retryFresh)) throw err;
      }
    }
    return this.exchange(t, await this.connect(t), line);
  }

  private async exchange(t: Tracker, c: Conn, line: string): Promise<Reply> {
    const text = await c.ask(line, this.timeoutMs);
    const reply = parseReply(text);
    if (!reply) {
      c.destroy();
      throw new TrackerFailure(`${t.name}: not a tracker reply: ${JSON.stringify(text.slice(0, 80))}`, false);
    }
    this.release(t, c);
    return reply;
  }

  private checkout(t: Tracker): Conn | undefined {
    for (let c = t.idle.pop(); c; c = t.idle.pop()) if (!c.closed) return c;
    return undefined;
  }

  private release(t: Tracker, c: Conn): void {
    if (c.closed) return;
    if (this.closed || t.idle.length >= this.maxIdle) {
      c.destroy();
      return;
    }
    c.idle(this.idleTimeoutMs);
    t.idle.push(c);
  }

  private connect(t: Tracker): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: t.host, port: t.port });
      socket.setNoDelay(true);
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TrackerFailure(`${t.name}: no connection within ${this.connectTimeoutMs} ms`, false));
      }, this.connectTimeoutMs);
      const onError = (err: Error) => {
        clearTimeout(timer);
        socket.destroy();
        reject(new TrackerFailure(`${t.name}: ${errText(err)}`, false, { cause: err }));
      };
      socket.once('error', onError);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.off('error', onError);
        const c = new Conn(socket, t.name, (gone) => this.dropped(t, gone));
        this.open.add(c);
        if (this.closed) c.destroy();
        resolve(c);
      });
    });
  }

  private dropped(t: Tracker, c: Conn): void {
    this.open.delete(c);
    const i = t.idle.indexOf(c);
    if (i >= 0) t.idle.splice(i, 1);
  }
}

function resultOf(reply: Reply): PathsResult {
  if (reply.ok) return { kind: 'paths', paths: Object.freeze(pathsFrom(reply.args)) as string[] };
  if (reply.code === 'unknown_key') return { kind: 'unknown-key' };
  return { kind: 'error', code: reply.code, message: reply.message };
}

/** Only paths are remembered: an ERR or an empty list is asked again next time. */
function worthRemembering(r: PathsResult): boolean {
  return r.kind === 'paths' && r.paths.length > 0;
}

function memoKey(domain: string, key: string): string {
  return `${domain.length}:${domain}${key}`;
}

function errText(err: unknown): string {
  const e = err as { code?: string; message?: string };
  return e?.code ?? e?.message ?? String(err);
}

/** "host:port", "host" (port 7001) or "[v6]:port". */
export function parseHostPort(spec: string): { host: string; port: number } {
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(spec) ?? /^([^:[\]\s]+)(?::(\d+))?$/.exec(spec);
  const port = m?.[2] === undefined ? DEFAULT_TRACKER_PORT : Number(m[2]);
  if (!m || !(port >= 1 && port <= 65535)) throw new ConfigError(`mogile.trackers: "${spec}" is not host:port`);
  return { host: m[1], port };
}
