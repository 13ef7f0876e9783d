// Cheap reachability probes for /healthz and `memfront check`. Each resolves to a result and
// never throws: a probe that fails is an answer ("ECONNREFUSED"), not an error.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';

export interface ProbeResult {
  ok: boolean;
  /** Time to the answer (or to the failure), in milliseconds. */
  ms: number;
  /** What answered ("memcached 1.6.21", "HTTP 200") or why not ("ECONNREFUSED", "timeout after 1000 ms"). */
  detail: string;
}

/** "host:port" or "[v6]:port" as the config spells servers. */
export function splitHostPort(address: string): { host: string; port: number } {
  const colon = address.lastIndexOf(':');
  const host = address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
  return { host, port: Number(address.slice(colon + 1)) };
}

/** The host and port a TCP connection to `url` goes to. */
export function urlHostPort(url: string): { host: string; port: number } {
  const u = new URL(url);
  const port = u.port !== '' ? Number(u.port) : u.protocol === 'https:' ? 443 : 80;
  return { host: u.hostname.replace(/^\[(.*)\]$/, '$1'), port };
}

const round = (ms: number): number => Math.round(ms * 10) / 10;

function reason(err: unknown): string {
  const e = err as NodeJS.ErrnoException | undefined;
  return e?.code ?? e?.message ?? String(err);
}

/**
 * Connects, optionally writes `command` and waits for one line; `judge` says whether that line
 * is a healthy answer. Without a command, a connection is the answer.
 */
function probeSocket(
  host: string,
  port: number,
  timeoutMs: number,
  command?: string,
  judge: (line: string) => ProbeResult['ok'] = () => true,
): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    let buffered = '';
    const socket = net.connect({ host, port });
    const finish = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve({ ok, ms: round(performance.now() - started), detail });
    };
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
    socket.once('error', (err) => finish(false, reason(err)));
    socket.once('connect', () => {
      if (command === undefined) finish(true, 'connected');
      else socket.write(command);
    });
    socket.on('data', (chunk: Buffer) => {
      buffered += chunk.toString('latin1');
      const nl = buffered.indexOf('\n');
      if (nl >= 0) {
        const line = buffered.slice(0, nl).trim();
        finish(judge(line), line.slice(0, 80));
      }
    });
    socket.once('end', () => finish(false, 'closed without answering'));
  });
}

export function probeTcp(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return probeSocket(host, port, timeoutMs);
}

/** memcached's `version` command: the cheapest request that proves it serves. */
export async function probeMemcached(address: string, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitHostPort(address);
  const r = await probeSocket(host, port, timeoutMs, 'version\r\n', (line) => /^VERSION /.test(line));
  return r.ok ? { ...r, detail: r.detail.replace(/^VERSION /, 'memcached ') } : r;
}

/**
 * A MogileFS tracker answers `noop` with `OK`; any reply line of the protocol (OK or ERR)
 * shows a tracker is there and reading commands.
 */
export function probeTracker(address: string, timeoutMs: number): Promise<ProbeResult> {
  const { host, port } = splitHostPort(address);
  return probeSocket(host, port, timeoutMs, 'noop\r\n', (line) => /^(OK|ERR)\b/.test(line));
}

/**
 * `HEAD` of the URL. Any answer below 500 counts as up: a 404 for "/" still shows a server that
 * serves; a 5xx does not.
 */
export function probeHttp(url: string, timeoutMs: number): Promise<ProbeResult> {
  const started = performance.now();
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, detail: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      req.destroy();
      resolve({ ok, ms: round(performance.now() - started), detail });
    };
    const get = url.startsWith('https:') ? https.request : http.request;
    const req = get(url, { method: 'HEAD', agent: false, headers: { 'User-Agent': 'memfront-check' } }, (res) => {
      const status = res.statusCode ?? 0;
      res.resume();
      finish(status > 0 && status < 500, `HTTP ${status}`);
    });
    const timer = setTimeout(() => finish(false, `timeout after ${timeoutMs} ms`), timeoutMs);
    req.once('error', (err) => finish(false, reason(err)));
    req.end();
  });
}
