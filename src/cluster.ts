// Several memfront processes sharing one listening port (node:cluster). The primary answers
// no requests: it forks the workers, replaces a crashed one, applies a SIGHUP reload once the
// file validates, drains every worker on SIGTERM, and serves the admin listener, summing the
// workers' metrics over IPC. The parts, one responsibility each, live in cluster/:
//
//   fork ──► worker: hello ──────────────► primary: start {config}
//            worker: ready {port} | start-failed {err}
//   SIGHUP   primary: reload {config} ───► worker swaps its engine ──► reloaded {error?}
//   /metrics primary: metrics ───────────► worker: metrics {snapshot}
//   SIGTERM  primary: stop ──────────────► worker closes within shutdownGraceMs, exits 0
//
// - cluster/primary.ts: the primary's supervision (forks, crashes, reloads, shutdown);
// - cluster/worker.ts: a worker's side of the exchange;
// - cluster/messages.ts: the messages themselves;
// - cluster/metrics-sum.ts: /metrics summed across workers, living and gone;
// - cluster/restart-backoff.ts: how soon a crashed worker is replaced.
//
// A worker only ever runs a config the primary has validated; the primary keeps the one the
// workers run and hands it to every worker it forks.
export { resolveWorkers, runPrimary, type PrimaryOptions } from './cluster/primary.js';
export { runWorker } from './cluster/worker.js';
export { RESTART_BACKOFF, restartDelay, type BackoffPolicy } from './cluster/restart-backoff.js';
