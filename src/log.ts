// The logger (pino JSON lines on stdout) and the one place that writes the per-request line.

import pino from 'pino';

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
  // Asynchronous writes to fd 1; pino flushes them when the process exits.
  return pino(options);
}

/** One line per request: `info`, or `warn` with the error under `err` when one is set. */
export function logRequest(logger: Logger, f: RequestFacts): void {
  const line: Record<string, unknown> = {
    method: f.method,
    url: f.url,
    status: f.status,
    cache: f.cache,
    route: f.route,
    ms: f.ms,
    bytes: f.bytes,
  };
  if (f.reqId !== undefined) line.reqId = f.reqId;
  if (f.detail !== undefined) line.detail = f.detail;
  if (f.err !== undefined && f.err !== null) {
    line.err = f.err;
    logger.warn(line, 'request');
  } else {
    logger.info(line, 'request');
  }
}
