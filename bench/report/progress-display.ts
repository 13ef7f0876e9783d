// What a person watches while a measurement runs: a bar with requests, the hit rate so far
// and requests/s on a terminal; on anything else (a pipe, a CI log) a plain line every 5 s.

import cliProgress from 'cli-progress';
import type { DriverProgress } from '../driver/driver-plan.js';
import { int, pct } from './format.js';

export interface ProgressDisplay {
  update(p: DriverProgress): void;
  stop(): void;
}

export interface ProgressOptions {
  label: string;
  durationS?: number;
  requests?: number;
  /** Whether the phase has a cache whose hit rate is worth showing. */
  showHitRate: boolean;
  /** false: never draw the bar (--no-progress). */
  bar: boolean;
  stream?: NodeJS.WriteStream;
}

const LINE_EVERY_MS = 5000;

/** The text of one progress line, shared by the bar's payload and the plain lines. */
export function progressText(p: DriverProgress, showHitRate: boolean): { requests: string; hitRate: string; rps: string } {
  const seconds = p.elapsedMs / 1000;
  return {
    requests: int(p.requests),
    hitRate: showHitRate ? pct(p.requests ? p.served / p.requests : 0) : '-',
    rps: int(seconds > 0 ? p.requests / seconds : 0),
  };
}

export function startProgress(o: ProgressOptions): ProgressDisplay {
  const stream = o.stream ?? process.stdout;
  const byRequests = o.durationS === undefined && o.requests !== undefined;
  // Tenths of a second, so a 10 s run moves the bar smoothly rather than in 10% jumps.
  const total = byRequests ? (o.requests ?? 0) : Math.ceil((o.durationS ?? 0) * 10);
  const seconds = Math.ceil(o.durationS ?? 0);
  const label = o.label.padEnd(20).slice(0, 20);
  if (o.bar && stream.isTTY) {
    const bar = new cliProgress.SingleBar(
      {
        stream,
        format: `${label} {bar} {time} | {requests} req | hit {hitRate} | {rps} req/s{errors}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        fps: 5,
      },
      cliProgress.Presets.shades_classic,
    );
    const time = (p?: DriverProgress) =>
      byRequests ? `${int(p?.requests ?? 0)}/${int(total)}` : `${Math.min(seconds, Math.floor((p?.elapsedMs ?? 0) / 1000))}/${seconds} s`;
    bar.start(total, 0, { time: time(), requests: '0', hitRate: '-', rps: '0', errors: '' });
    return {
      update(p) {
        const t = progressText(p, o.showHitRate);
        const value = byRequests ? p.requests : Math.min(total, Math.floor(p.elapsedMs / 100));
        bar.update(value, { ...t, time: time(p), hitRate: p.warming ? 'warming' : t.hitRate, errors: p.errors ? ` | ${int(p.errors)} errors` : '' });
      },
      stop() {
        bar.stop();
      },
    };
  }
  let lastLine = 0;
  return {
    update(p) {
      if (p.warming || p.elapsedMs - lastLine < LINE_EVERY_MS) return;
      lastLine = p.elapsedMs;
      const t = progressText(p, o.showHitRate);
      const of = byRequests ? `${t.requests}/${int(total)} req` : `${Math.floor(p.elapsedMs / 1000)}/${seconds} s, ${t.requests} req`;
      stream.write(`${label} ${of}, hit ${t.hitRate}, ${t.rps} req/s${p.errors ? `, ${int(p.errors)} errors` : ''}\n`);
    },
    stop() {},
  };
}
