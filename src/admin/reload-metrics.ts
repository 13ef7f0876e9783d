// The reload series, kept by whichever process reads the config: the single process, or the
// primary with workers (whose workers keep theirs at their start values, so the primary's sum,
// max and min below mean the same as one process's numbers).
import client from 'prom-client';

export class ReloadMetrics {
  private readonly reloads: client.Counter<'result'>;
  private readonly lastSuccess: client.Gauge;
  private readonly lastOk: client.Gauge;

  constructor(registry: client.Registry) {
    this.reloads = new client.Counter({
      name: 'memfront_config_reloads_total',
      help: 'SIGHUP config reloads, by result (ok, failed)',
      labelNames: ['result'] as const,
      registers: [registry],
    });
    // Named as Prometheus names its own, so the same alert reads both.
    this.lastSuccess = new client.Gauge({
      name: 'memfront_config_last_reload_success_timestamp_seconds',
      help: 'When the running config was loaded (start, or the last successful SIGHUP reload), Unix seconds',
      // Workers report 0: the primary's time is the one that means something.
      aggregator: 'max',
      registers: [registry],
    });
    this.lastOk = new client.Gauge({
      name: 'memfront_config_last_reload_successful',
      help: 'Whether the last config reload succeeded (1) or failed and the previous config still runs (0)',
      // Workers report 1: one 0 anywhere is the answer.
      aggregator: 'min',
      registers: [registry],
    });
    this.reloads.inc({ result: 'ok' }, 0);
    this.reloads.inc({ result: 'failed' }, 0);
    this.lastSuccess.set(0);
    this.lastOk.set(1);
  }

  /** The config was read at start: the timestamp alerts compare reloads against. */
  loaded(now = Date.now()): void {
    this.lastSuccess.set(now / 1000);
  }

  reloaded(ok: boolean, now = Date.now()): void {
    this.reloads.inc({ result: ok ? 'ok' : 'failed' });
    this.lastOk.set(ok ? 1 : 0);
    if (ok) this.lastSuccess.set(now / 1000);
  }
}
