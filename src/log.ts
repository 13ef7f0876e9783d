// The logger (pino JSON lines on stdout) and the one place that writes the per-request line.

import pino from 'pino';
import { TurnBatch } from './log-batch.js';
import { requestLineFields } from './log-line.js';

export type Logger = pino.Logger;

export type CacheOutcome = 'hit' | 'miss' | 'bypass' | 'stale' | 'none';

/** What the engine knows about a finished request; logRequest turns it into the log line. */
export interface RequestFacts {
  method: string;
  url: string;
  status: number;
  cache: CacheOutcome;
  route: string;
  ms: number;
  bytes: number;
  reqId?: string;
  err?: unknown;
  detail?: string;
  /** The client's address (the peer's, or the first untrusted one in X-Forwarded-For from a trusted proxy). */
  ip?: string;
  host?: string;
  ua?: string;
  referer?: string;
  /** Until the upstream's response headers arrived (or it failed). */
  upstreamMs?: number;
  /** On answers from an entry: its remaining freshness and the Age sent (seconds). */
  ttl?: number;
  age?: number;
  /** A PURGE: what it purged (path, tags, host). Its line names the purger (`source`) instead of a route and cache outcome. */
  purge?: string;
}

/**
 * A logger at `cfg.level`. Lines go to `dest` when given (tests pass a sink; pretty is then
 * ignored), else to stdout: through pino-pretty when `cfg.pretty`, else as JSON lines.
 */
export function createLogger(cfg: { level: string; pretty: boolean }, dest?: pino.DestinationStream): Logger {
  const options: pino.LoggerOptions = {
    level: cfg.level,
    // The contract asks for errors "with their cause": the ECONNREFUSED behind a
    // backend failure is in err.cause, and pino's default serializer would flatten it.
    serializers: { err: pino.stdSerializers.errWithCause },
  };
  if (dest !== undefined) return pino(options, dest);
  if (cfg.pretty) return pino(options, pino.transport({ target: 'pino-pretty', options: { destination: 1 } }));
  // Asynchronous writes to fd 1, flushed when the process exits, gathered per turn (log-batch.ts).
  return pino(options, new TurnBatch(pino.destination({ dest: 1, sync: false })));
}

interface BriefError {
  message: string;
  code?: string;
  cause?: BriefError;
}

/**
 * An error as the request line carries it: type, code, message and the cause chain, without
 * stacks. The stack of a refused backend says nothing new on every request (~1.4 KB each); a
 * failure in memfront itself is logged with its stack on its own line where it is caught.
 * Shaped for pino's err serializer, which reads `name` (hidden here, so it is not printed
 * twice) as the type and copies the rest.
 */
export function briefError(err: unknown, depth = 0): BriefError | undefined {
  if (err === undefined || err === null) return undefined;
  const e = (typeof err === 'object' ? err : { message: String(err) }) as { name?: string; constructor?: { name?: string }; message?: unknown; code?: unknown; cause?: unknown };
  const out: BriefError = Object.create(null);
  Object.defineProperty(out, 'name', { value: typeof err === 'object' ? (e.constructor?.name ?? e.name ?? 'Error') : typeof err, enumerable: false });
  out.message = String(e.message ?? '');
  if (typeof e.code === 'string') out.code = e.code;
  // A cause chain longer than this is a loop or a mistake, not information.
  if (e.cause !== undefined && depth < 5) out.cause = briefError(e.cause, depth + 1);
  return out;
}

/** One line per request: `info`, or `warn` with the error under `err` when one is set. */
export function logRequest(logger: Logger, f: RequestFacts): void {
  if (f.err !== undefined && f.err !== null) {
    const line = requestFields(f);
    line.err = briefError(f.err);
    logger.warn(line, 'request');
    return;
  }
  if (!logger.isLevelEnabled('info')) return;
  const direct = directWriter(logger);
  if (direct === undefined) logger.info(requestFields(f), 'request');
  else direct.stream.write(direct.level + direct.time() + (logger as unknown as PinoInternals)[S.chindingsSym] + requestLineFields(f) + direct.end);
}

/** The line's fields as an object for pino, in the order requestLineFields writes them. */
function requestFields(f: RequestFacts): Record<string, unknown> {
  const line: Record<string, unknown> = { method: f.method, url: f.url, status: f.status };
  if (f.purge !== undefined) {
    line.purge = f.purge;
    if (f.ip !== undefined) line.source = f.ip;
  } else {
    line.cache = f.cache;
    line.route = f.route;
  }
  line.ms = f.ms;
  line.bytes = f.bytes;
  if (f.reqId !== undefined) line.reqId = f.reqId;
  if (f.detail !== undefined) line.detail = f.detail;
  if (f.purge === undefined && f.ip !== undefined) line.ip = f.ip;
  if (f.host !== undefined) line.host = f.host;
  if (f.ua !== undefined) line.ua = f.ua;
  if (f.referer !== undefined) line.referer = f.referer;
  if (f.upstreamMs !== undefined) line.upstreamMs = f.upstreamMs;
  if (f.ttl !== undefined) line.ttl = f.ttl;
  if (f.age !== undefined) line.age = f.age;
  return line;
}

// msgPrefixSym is in pino.symbols at run time but not in its types.
const S = pino.symbols as typeof pino.symbols & { readonly msgPrefixSym: symbol };
type PinoInternals = Record<symbol, any>;

/** What pino puts around a line's fields, taken from the logger itself so the line is pino's to the byte. */
interface DirectWriter {
  stream: { write(s: string): unknown };
  level: string;
  time: () => string;
  end: string;
}

let lastEpoch = -1;
let lastEpochField = '';

/** pino's epoch time field, written once per millisecond rather than once per line. */
function epochTime(): string {
  const now = Date.now();
  if (now !== lastEpoch) {
    lastEpoch = now;
    lastEpochField = `,"time":${now}`;
  }
  return lastEpochField;
}

const writers = new WeakMap<object, DirectWriter | null>();
let lastLogger: Logger | undefined;
let lastWriter: DirectWriter | undefined;

/**
 * The info line's parts, when the logger lays a line out the plain way createLogger makes it:
 * no mixin, nested key, message prefix, log formatter, redaction, write hook or a destination
 * that wants the line's metadata (pino.multistream). Anything else goes through pino.
 */
function directWriter(logger: Logger): DirectWriter | undefined {
  // One logger writes nearly every line: it is looked up once.
  if (logger === lastLogger) return lastWriter;
  let w = writers.get(logger);
  if (w === undefined) {
    const l = logger as unknown as PinoInternals;
    const stream = l[S.streamSym];
    const plain = !l[S.mixinSym] && !l[S.nestedKeySym] && !l[S.msgPrefixSym] && !l[S.formattersSym]?.log && !l[S.hooksSym]?.streamWrite
      && Object.keys(l[S.stringifiersSym] ?? {}).length === 0 && l[S.messageKeySym] === 'msg' && stream?.[S.needsMetadataGsym] !== true
      && typeof l[S.lsCacheSym]?.[30] === 'string' && typeof l[S.timeSym] === 'function';
    const time = l[S.timeSym] === pino.stdTimeFunctions.epochTime ? epochTime : l[S.timeSym];
    w = plain ? { stream, level: l[S.lsCacheSym][30], time, end: ',"msg":"request"' + l[S.endSym] } : null;
    writers.set(logger, w);
  }
  lastLogger = logger;
  lastWriter = w ?? undefined;
  return lastWriter;
}
