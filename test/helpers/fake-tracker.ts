// A fake MogileFS tracker on the real line protocol, over TCP on port 0 of 127.0.0.1.
// It records every line it receives as it arrived (so tests can assert the exact encoding),
// counts questions, and can misbehave the ways real trackers do: refuse (stopped), accept and
// never answer, answer late, answer in pieces, come back on the same port.
//
// Its decoding and encoding are written independently of src/policy/mogile-protocol.ts, so
// a symmetric mistake there cannot hide behind the fake.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { listenOn } from './listen.js';

type Answer = { paths: string[] } | { err: { code: string; message: string } };

interface Rule {
  answer: Answer;
  /** Reply this long after the question arrived. */
  delayMs: number;
}

export class FakeTracker {
  /** Every request line received, in order, without its line end (CR LF or LF). */
  readonly lines: string[] = [];
  /** Every byte received, in order, as latin1 text. */
  raw = '';
  /** Connections accepted since start. */
  connections = 0;
  /** Accept and read, but never answer. */
  silent = false;
  /** Write each reply in three pieces with small pauses (one cut between its CR and LF). */
  split = false;
  /** Domain that exists; questions about another get ERR domain_not_found. Any when ''. */
  domain = '';

  private readonly rules = new Map<string, Rule>();
  private readonly sockets = new Set<net.Socket>();
  private server: net.Server;
  private repliesWritten = 0;
  private replyWaiters: { count: number; resolve: () => void }[] = [];
  private port_ = 0;

  private constructor() {
    this.server = this.createServer();
  }

  static async start(): Promise<FakeTracker> {
    const t = new FakeTracker();
    t.port_ = await listenOn(t.server);
    return t;
  }

  get port(): number {
    return this.port_;
  }

  /** "127.0.0.1:port", as mogile.trackers lists it. */
  get address(): string {
    return `127.0.0.1:${this.port_}`;
  }

  setPaths(key: string, paths: string[], o: { delayMs?: number } = {}): void {
    this.rules.set(key, { answer: { paths }, delayMs: o.delayMs ?? 0 });
  }

  setError(key: string, code: string, message: string, o: { delayMs?: number } = {}): void {
    this.rules.set(key, { answer: { err: { code, message } }, delayMs: o.delayMs ?? 0 });
  }

  /** get_paths questions received, for one key or in all. */
  queries(key?: string): number {
    let n = 0;
    for (const line of this.lines) {
      const q = parseQuestion(line);
      if (q?.cmd === 'get_paths' && (key === undefined || q.args.key === key)) n++;
    }
    return n;
  }

  /** Resolves once `count` replies in all have been written (or attempted on a closed socket). */
  untilReplies(count: number): Promise<void> {
    if (this.repliesWritten >= count) return Promise.resolve();
    return new Promise((resolve) => this.replyWaiters.push({ count, resolve }));
  }

  /** Port closed, every connection cut: a tracker that is down. */
  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    this.sockets.clear();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Back on the same port. */
  async restart(): Promise<void> {
    await this.stop();
    this.server = this.createServer();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port_, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  private createServer(): net.Server {
    return net.createServer((socket) => this.accept(socket));
  }

  private accept(socket: net.Socket): void {
    this.connections++;
    this.sockets.add(socket);
    socket.setNoDelay(true);
    // A client that went away while we were about to answer: not the fake's problem.
    socket.on('error', () => {});
    socket.on('close', () => this.sockets.delete(socket));
    let pending = '';
    // Replies go out in question order on each connection, whatever their delays.
    let queue: Promise<void> = Promise.resolve();
    socket.on('data', (d: Buffer) => {
      const text = d.toString('latin1');
      this.raw += text;
      pending += text;
      for (let nl = pending.indexOf('\n'); nl >= 0; nl = pending.indexOf('\n')) {
        const line = pending.slice(0, nl).replace(/\r$/, '');
        pending = pending.slice(nl + 1);
        this.lines.push(line);
        if (this.silent) continue;
        const { reply, delayMs } = this.answer(line);
        queue = queue.then(() => this.send(socket, reply, delayMs));
      }
    });
  }

  private answer(line: string): { reply: string; delayMs: number } {
    const q = parseQuestion(line);
    if (!q) return { reply: 'ERR unknown_command Unknown+server+command\r\n', delayMs: 0 };
    if (q.cmd !== 'get_paths') return { reply: 'ERR unknown_command Unknown+server+command\r\n', delayMs: 0 };
    if (this.domain && q.args.domain !== this.domain) return { reply: 'ERR domain_not_found Domain+not+found\r\n', delayMs: 0 };
    const rule = this.rules.get(q.args.key ?? '');
    if (!rule) return { reply: 'ERR unknown_key unknown_key\r\n', delayMs: 0 };
    if ('err' in rule.answer) {
      return { reply: `ERR ${rule.answer.err.code} ${fakeEscape(rule.answer.err.message)}\r\n`, delayMs: rule.delayMs };
    }
    const want = Math.max(1, Number(q.args.pathcount ?? '2') || 2);
    const paths = rule.answer.paths.slice(0, want);
    const args = [`paths=${paths.length}`, ...paths.map((p, i) => `path${i + 1}=${fakeEscape(p)}`)].join('&');
    return { reply: `OK ${args}\r\n`, delayMs: rule.delayMs };
  }

  private async send(socket: net.Socket, reply: string, delayMs: number): Promise<void> {
    if (delayMs > 0) await sleep(delayMs);
    if (this.split && reply.length >= 4) {
      // Three pieces: the middle, then up to the CR, then the LF alone.
      const a = Math.floor((reply.length - 2) / 2);
      const pieces = [reply.slice(0, a), reply.slice(a, reply.length - 1), reply.slice(reply.length - 1)];
      for (const [i, piece] of pieces.entries()) {
        if (i > 0) await sleep(15);
        if (!socket.destroyed) socket.write(piece);
      }
    } else if (!socket.destroyed) {
      socket.write(reply);
    }
    this.repliesWritten++;
    this.replyWaiters = this.replyWaiters.filter((w) => {
      if (this.repliesWritten < w.count) return true;
      w.resolve();
      return false;
    });
  }

  async close(): Promise<void> {
    await this.stop();
  }
}

function parseQuestion(line: string): { cmd: string; args: Record<string, string> } | null {
  const m = /^(\w+) ?(.*)$/.exec(line);
  if (!m) return null;
  const args: Record<string, string> = {};
  for (const pair of m[2].split('&')) {
    if (!pair) continue;
    const [k, v = ''] = pair.split('=');
    const key = fakeUnescape(k);
    const value = fakeUnescape(v);
    if (key === null || value === null) return null;
    args[key] = value;
  }
  return { cmd: m[1], args };
}

function fakeUnescape(s: string): string | null {
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return null;
  }
}

/** What a tracker sends: encodeURIComponent's output, with space as '+' and !'()* escaped too. */
function fakeEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*~]/g, (c) => '%' + c.charCodeAt(0).toString(16).toUpperCase())
    .replace(/%20/g, '+');
}
