// A fake storage node / static server: HTTP on port 0 of 127.0.0.1 serving an in-memory
// map of path → bytes, with HEAD and single-range Range (206/416), counting requests by
// method and path. close() takes it off the network (a dead node); reopen() brings it back
// on the same port.
import http from 'node:http';
import { listenOn } from './listen.js';

export interface FileEntry {
  body: Buffer;
  contentType: string;
  /** Answer this status (with Location when one is given) instead of the file: a 302, a 503. */
  redirect?: { status: number; location: string };
}

export interface SeenRequest {
  method: string;
  /** Path and query exactly as received. */
  url: string;
  headers: http.IncomingHttpHeaders;
}

export class FakeFileServer {
  /** Every request received, in order. */
  readonly seen: SeenRequest[] = [];
  /** Connections accepted since start. */
  connections = 0;
  private readonly files = new Map<string, FileEntry>();
  private server: http.Server;
  private port_ = 0;

  private constructor() {
    this.server = this.createServer();
  }

  static async start(files: Record<string, string | Buffer> = {}): Promise<FakeFileServer> {
    const s = new FakeFileServer();
    for (const [path, body] of Object.entries(files)) s.put(path, body);
    s.port_ = await listenOn(s.server);
    return s;
  }

  get port(): number {
    return this.port_;
  }

  /** "http://127.0.0.1:port", as static.servers lists it. */
  get url(): string {
    return `http://127.0.0.1:${this.port_}`;
  }

  /** Serves `body` at `path` (matched against the raw request path, query ignored). */
  put(path: string, body: string | Buffer, contentType = 'application/octet-stream'): void {
    this.files.set(path, { body: Buffer.isBuffer(body) ? body : Buffer.from(body), contentType });
  }

  redirect(path: string, location: string, status = 302): void {
    this.files.set(path, { body: Buffer.alloc(0), contentType: 'text/plain', redirect: { status, location } });
  }

  /** Answers `status` with no body at `path` (e.g. 503 from a sick node). */
  failWith(path: string, status: number): void {
    this.files.set(path, { body: Buffer.alloc(0), contentType: 'text/plain', redirect: { status, location: '' } });
  }

  remove(path: string): void {
    this.files.delete(path);
  }

  /** Requests received with this method, for one path (query ignored) or in all. */
  count(method: string, path?: string): number {
    return this.seen.filter((r) => r.method === method && (path === undefined || r.url.split('?')[0] === path)).length;
  }

  /** Off the network: listener closed and every connection cut. */
  async close(): Promise<void> {
    this.server.closeAllConnections();
    if (!this.server.listening) return;
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  /** Back on the same port. */
  async reopen(): Promise<void> {
    await this.close();
    this.server = this.createServer();
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.port_, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  private createServer(): http.Server {
    const server = http.createServer((req, res) => this.handle(req, res));
    server.on('connection', () => this.connections++);
    server.keepAliveTimeout = 30_000;
    return server;
  }

  private handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    this.seen.push({ method, url, headers: req.headers });
    const file = this.files.get(url.split('?')[0]);
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Length': 0 });
      res.end();
      return;
    }
    if (!file) {
      const body = 'not found\n';
      res.writeHead(404, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }
    if (file.redirect) {
      const headers: http.OutgoingHttpHeaders = { 'Content-Length': 0 };
      if (file.redirect.location) headers.Location = file.redirect.location;
      res.writeHead(file.redirect.status, headers);
      res.end();
      return;
    }
    const size = file.body.length;
    const range = parseRange(req.headers.range, size);
    if (range === 'unsatisfiable') {
      res.writeHead(416, { 'Content-Range': `bytes */${size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const headers: http.OutgoingHttpHeaders = { 'Content-Type': file.contentType, 'Accept-Ranges': 'bytes' };
    let body = file.body;
    let status = 200;
    if (range) {
      status = 206;
      body = file.body.subarray(range.start, range.end + 1);
      headers['Content-Range'] = `bytes ${range.start}-${range.end}/${size}`;
    }
    headers['Content-Length'] = body.length;
    res.writeHead(status, headers);
    res.end(method === 'HEAD' ? undefined : body);
  }
}

/** One `bytes=` range; several ranges or a malformed header are ignored (the whole file). */
function parseRange(header: string | undefined, size: number): { start: number; end: number } | 'unsatisfiable' | null {
  const m = header ? /^bytes=(\d*)-(\d*)$/.exec(header.trim()) : null;
  if (!m || (m[1] === '' && m[2] === '')) return null;
  if (m[1] === '') {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - n), end: size - 1 };
  }
  const start = Number(m[1]);
  // last < first makes the header invalid, which is ignored (RFC 9110 14.1.1).
  if (m[2] !== '' && Number(m[2]) < start) return null;
  if (start >= size) return 'unsatisfiable';
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  return { start, end };
}
