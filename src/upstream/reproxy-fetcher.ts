// Fetching reproxy targets (file and storage servers) with undici: one keep-alive pool per
// origin, bounded connect and first-byte waits, redirects never followed (undici follows
// none unless asked), bodies streamed. Also trying a list of targets in turn, the first
// acceptable answer winning: reproxy URLs, reproxy services and (issue 4) mogile paths.

import type { Agent } from 'undici';
import { loadUndici } from './undici-lazy.js';
import type { Readable } from 'node:stream';
import { UpstreamError } from '../errors.js';
import type { Headers } from '../policy/headers.js';
import type { Target, Verdict } from '../policy/reproxy-rules.js';
import type { UpstreamResponse } from './upstream.js';

export interface FetcherOptions {
  /** TCP (and TLS) connect. */
  connectTimeoutMs: number;
  /** Request sent to response headers received: the first byte. */
  headersTimeoutMs: number;
  /** Each gap between body bytes (not counted while the client applies backpressure). */
  bodyTimeoutMs: number;
  /** Connections per origin; more concurrent requests queue. */
  connectionsPerOrigin?: number;
}

export interface TargetRequest {
  method: 'GET' | 'HEAD';
  headers: Record<string, string>;
  signal?: AbortSignal;
}

/** A target's answer: an UpstreamResponse plus its headers by lower-cased name. */
export interface TargetAnswer extends UpstreamResponse {
  headers: Headers;
  /** Throw the answer away, keeping the connection when its body is small. */
  discard(): void;
}

export interface Attempt {
  href: string;
  /** 'served', 'status 404', 'size-mismatch', or an error code such as ECONNREFUSED. */
  result: string;
}

export interface FirstResult {
  answer?: TargetAnswer;
  attempts: Attempt[];
  /** The last failure's error (its cause chain names the socket error). */
  lastError?: unknown;
}

/** Bodies of skipped answers up to this size are read off so the connection can be reused. */
const DISCARD_READ_LIMIT = 128 * 1024;

export class ReproxyFetcher {
  /** Made on the first fetch (undici-lazy.ts). */
  private agent?: Promise<Agent>;
  private closed = false;

  constructor(private readonly o: FetcherOptions) {}

  private agentNow(): Promise<Agent> {
    this.agent ??= loadUndici().then(
      ({ Agent }) =>
        new Agent({
          connect: { timeout: this.o.connectTimeoutMs },
          headersTimeout: this.o.headersTimeoutMs,
          bodyTimeout: this.o.bodyTimeoutMs,
          connections: this.o.connectionsPerOrigin ?? 256,
          keepAliveTimeout: 4000,
        }),
    );
    return this.agent;
  }

  /** One target; rejects with an UpstreamError whose cause is undici's. */
  async fetch(target: Target, r: TargetRequest): Promise<TargetAnswer> {
    let res: Awaited<ReturnType<Agent['request']>>;
    try {
      if (this.closed) throw new Error('closed');
      const agent = await this.agentNow();
      res = await agent.request({ origin: target.origin, path: target.path, method: r.method, headers: r.headers, signal: r.signal });
    } catch (cause) {
      throw new UpstreamError('MF_REPROXY_FAILED', `reproxy target ${target.href} failed: ${errorCode(cause)}`, { cause });
    }
    const body = res.body as Readable & { dump(o: { limit: number }): Promise<void> };
    let ended = false;
    body.once('end', () => (ended = true));
    // The engine listens for errors once it reads; until then one must not crash the process.
    body.on('error', () => {});
    const headers = res.headers as Headers;
    return {
      status: res.statusCode,
      rawHeaders: rawFromObject(headers),
      headers,
      body,
      complete: () => ended,
      abort: () => body.destroy(),
      discard: () => {
        body.dump({ limit: DISCARD_READ_LIMIT }).catch(() => {});
      },
    };
  }

  /**
   * Targets in turn until `judge` takes an answer. Contract: "each URL is fetched in turn
   * until one answers 2xx"; a failed connection, a timeout or a refused answer moves on.
   */
  async first(targets: readonly Target[], r: TargetRequest, judge: (status: number, headers: Headers) => Verdict): Promise<FirstResult> {
    const attempts: Attempt[] = [];
    let lastError: unknown;
    for (const target of targets) {
      if (r.signal?.aborted) break;
      let answer: TargetAnswer;
      try {
        answer = await this.fetch(target, r);
      } catch (err) {
        lastError = err;
        attempts.push({ href: target.href, result: errorCode((err as Error).cause ?? err) });
        continue;
      }
      const verdict = judge(answer.status, answer.headers);
      if (verdict.take) {
        attempts.push({ href: target.href, result: 'served' });
        return { answer, attempts, lastError };
      }
      answer.discard();
      attempts.push({ href: target.href, result: verdict.reason === 'status' ? `status ${answer.status}` : verdict.reason });
    }
    return { attempts, lastError };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.agent) await (await this.agent).close();
  }
}

/** undici's headers object as Node's rawHeaders layout (names lower-cased, repeats kept). */
function rawFromObject(headers: Headers): string[] {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (Array.isArray(value)) for (const v of value) raw.push(name, v);
    else raw.push(name, value);
  }
  return raw;
}

function errorCode(err: unknown): string {
  const e = err as { code?: string; name?: string; message?: string } | undefined;
  return e?.code ?? e?.name ?? String(e?.message ?? err);
}
