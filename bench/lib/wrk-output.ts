// What wrk reports, read precisely: a Lua done() hook prints one JSON line with the exact
// counts and latency percentiles (in microseconds), instead of parsing wrk's rounded text.

export interface WrkResult {
  requests: number;
  durationS: number;
  rps: number;
  bytes: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  /** Socket-level failures: connect + read + write + timeout. */
  errors: number;
  errorDetail: { connect: number; read: number; write: number; timeout: number };
  /** Responses with status >= 400: wrk's "Non-2xx or 3xx responses". */
  non2xx: number;
}

export const WRK_JSON_MARK = 'WRK_JSON ';

// %.0f rather than %d: wrk's LuaJIT hands over numbers that are not always integers.
export const WRK_DONE_SCRIPT = `
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '${WRK_JSON_MARK}{"requests":%.0f,"duration_us":%.0f,"bytes":%.0f,' ..
    '"errors":{"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f},' ..
    '"latency_us":{"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f,"mean":%.3f}}\\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max, latency.mean))
end
`;

/** The figures of a run every bench table shows, in the tables' names. */
export interface RunFigures {
  rps: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  /** Socket errors (connect, read, write, timeout). */
  errors: number;
  /** Answers with status >= 400. */
  non2xx: number;
}

export function runFigures(r: WrkResult): RunFigures {
  return { rps: r.rps, p50Ms: r.latencyMs.p50, p99Ms: r.latencyMs.p99, requests: r.requests, errors: r.errors, non2xx: r.non2xx };
}

interface RawReport {
  requests: number;
  duration_us: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latency_us: { p50: number; p90: number; p99: number; max: number; mean: number };
}

export function parseWrkOutput(stdout: string): WrkResult {
  const line = stdout.split('\n').find((l) => l.startsWith(WRK_JSON_MARK));
  if (!line) throw new Error(`wrk output has no ${WRK_JSON_MARK.trim()} line (was the done() script loaded?):\n${stdout}`);
  const raw = JSON.parse(line.slice(WRK_JSON_MARK.length)) as RawReport;
  const durationS = raw.duration_us / 1e6;
  const ms = (us: number) => us / 1000;
  const { connect, read, write, timeout } = raw.errors;
  return {
    requests: raw.requests,
    durationS,
    rps: durationS > 0 ? raw.requests / durationS : 0,
    bytes: raw.bytes,
    latencyMs: {
      p50: ms(raw.latency_us.p50),
      p90: ms(raw.latency_us.p90),
      p99: ms(raw.latency_us.p99),
      max: ms(raw.latency_us.max),
      mean: ms(raw.latency_us.mean),
    },
    errors: connect + read + write + timeout,
    errorDetail: { connect, read, write, timeout },
    non2xx: raw.errors.status,
  };
}
