// What the primary and its workers say to each other over the IPC channel (see ../cluster.ts
// for the exchange), and how an error crosses it.
import type { LoadedConfig } from '../config/load.js';
import type { MetricsSnapshot } from '../admin/metrics.js';
import type { InspectQuery, InspectReport } from '../admin/inspect.js';

export interface SentError {
  message: string;
  code?: string;
}

export type ToWorker =
  | { mf: 'start'; config: LoadedConfig; gen: number }
  | { mf: 'reload'; seq: number; config: LoadedConfig; gen: number }
  | { mf: 'metrics'; seq: number }
  | { mf: 'inspect'; seq: number; query: InspectQuery }
  | { mf: 'stop' };

export type ToPrimary =
  | { mf: 'hello' }
  | { mf: 'ready'; port: number; gen: number }
  | { mf: 'start-failed'; err: SentError }
  | { mf: 'reloaded'; seq: number; error?: SentError }
  | { mf: 'metrics'; seq: number; metrics: MetricsSnapshot }
  | { mf: 'inspected'; seq: number; report?: InspectReport; error?: SentError };

/** How long past shutdownGraceMs a close may run before the process gives up on it. */
export const STOP_OVERRUN_MS = 5000;

export const isOurs = (msg: unknown): msg is { mf: string } => typeof msg === 'object' && msg !== null && 'mf' in msg;

export function sentError(err: unknown): SentError {
  const e = err as NodeJS.ErrnoException;
  return { message: e?.message ?? String(err), ...(e?.code ? { code: e.code } : {}) };
}

/** A worker's error, rebuilt in the primary for the log (pino shows message and code). */
export function errorFrom(e: SentError): Error {
  return Object.assign(new Error(e.message), e.code ? { code: e.code } : {});
}
