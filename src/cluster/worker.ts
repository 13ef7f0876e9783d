// A worker process: waits for its config from the primary, serves, applies reloads the
// primary sends, reports its metrics when asked, and exits when told.
import cluster from 'node:cluster';
import type { Logger } from 'pino';
import type { LoadedConfig } from '../config/load.js';
import type { MetricsSnapshot } from '../admin/metrics.js';
import { createLogger } from '../log.js';
import type { Memfront } from '../server.js';
import { isOurs, sentError, STOP_OVERRUN_MS, type ToPrimary, type ToWorker } from './messages.js';

/** Runs one worker: waits for its config from the primary, serves, and exits when told. */
export function runWorker(): void {
  let app: Memfront | undefined;
  let logger: Logger | undefined;
  let graceMs = 10_000;
  let stopping = false;
  let starting = false;
  const send = (msg: ToPrimary, then?: () => void): void => {
    if (process.connected) process.send!(msg, undefined, undefined, () => then?.());
    else then?.();
  };

  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    if (!app) {
      if (!starting) process.exit(0);
      return; // start() sees `stopping` once it has something to close
    }
    setTimeout(() => {
      logger?.error({ graceMs }, 'shutdown overran its grace period');
      process.exit(1);
    }, graceMs + STOP_OVERRUN_MS).unref();
    app.close(graceMs).then(
      () => process.exit(0),
      (err: unknown) => {
        logger?.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };

  const start = async (config: LoadedConfig, gen: number): Promise<void> => {
    if (app || starting) return;
    starting = true;
    logger = createLogger(config.log).child({ worker: cluster.worker?.id });
    graceMs = config.shutdownGraceMs;
    const log = logger;
    process.on('uncaughtException', (err) => {
      log.fatal({ err }, 'uncaught exception');
      process.exit(1);
    });
    try {
      const { startMemfront } = await import('../server.js');
      app = await startMemfront(config, { logger, admin: false });
    } catch (err) {
      send({ mf: 'start-failed', err: sentError(err) }, () => process.exit(1));
      return;
    }
    if (stopping) {
      stopping = false;
      stop();
      return;
    }
    send({ mf: 'ready', port: app.port, gen });
  };

  process.on('message', (msg: unknown) => {
    if (!isOurs(msg)) return;
    const m = msg as ToWorker;
    switch (m.mf) {
      case 'start':
        void start(m.config, m.gen);
        break;
      case 'reload':
        if (!app) {
          send({ mf: 'reloaded', seq: m.seq, error: { message: 'not started' } });
          break;
        }
        app.reload(m.config).then(
          (plan) => {
            graceMs = m.config.shutdownGraceMs;
            logger?.debug({ changed: plan.changed }, 'config applied');
            send({ mf: 'reloaded', seq: m.seq });
          },
          (err: unknown) => send({ mf: 'reloaded', seq: m.seq, error: sentError(err) }),
        );
        break;
      case 'metrics':
        void (app ? app.metrics.snapshot() : Promise.resolve([] as MetricsSnapshot)).then((metrics) =>
          send({ mf: 'metrics', seq: m.seq, metrics }),
        );
        break;
      case 'inspect':
        if (!app) {
          send({ mf: 'inspected', seq: m.seq, error: { message: 'not started' } });
          break;
        }
        app.inspect(m.query).then(
          (report) => send({ mf: 'inspected', seq: m.seq, report }),
          (err: unknown) => send({ mf: 'inspected', seq: m.seq, error: sentError(err) }),
        );
        break;
      case 'stop':
        stop();
        break;
    }
  });
  // A terminal's Ctrl-C (or systemd's SIGTERM to the whole group) reaches the workers too:
  // each drains on its own; a second signal ends it at once.
  const onSignal = (): void => {
    if (stopping) process.exit(1);
    stop();
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Reloads are the primary's to coordinate; a hangup of the whole group must not kill workers.
  process.on('SIGHUP', () => {});
  // If the primary dies, node:cluster itself ends the worker at once on the lost channel.
  send({ mf: 'hello' });
}
