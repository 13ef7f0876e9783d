#!/usr/bin/env -S node --max-semi-space-size=8
// The flag caps V8's young generation at two 8 MB semi-spaces (Node's default lets it grow to
// two of 16 MB under load and keep them): measured side by side on one core, 7-13 MB less RSS
// under hit load and fill, with requests/s and CPU per request the same within noise
// (docs/operations.md, "L1 memory across workers"). A shebang is the one place a flag that V8
// reads only at start can be set for the installed bin, the systemd unit and the cluster
// workers (they inherit it).

// The memfront command: reads the command line and the config, then starts the proxy (one
// process, or a primary with workers), runs the checks or prints the effective config. Wiring
// only. Exit status: 0 stopped cleanly (check: everything answers), 1 failed to start or to stop
// (check: something does not answer), 2 bad config or command line. Config warnings go to
// stderr, one line each, and change nothing. Cluster workers run this file too (see cluster.ts).

import cluster from 'node:cluster';
import { ConfigError } from './errors.js';
import { configDocs, loadConfig, readConfig, type LoadedConfig, type LoadOptions, type ReadConfig } from './config/load.js';
import { createLogger, type Logger } from './log.js';
import type { Memfront } from './server.js';

const EXIT_FAILED = 1;
const EXIT_BAD_CONFIG = 2;
/** How long past shutdownGraceMs a close may run before the process gives up on it. */
const CLOSE_OVERRUN_MS = 5000;

interface CommandLine {
  command: 'run' | 'check' | 'config' | 'help' | 'version';
  file?: string;
  args: string[];
  /** check: validate only, contact nothing. */
  offline?: boolean;
}

const SUBCOMMANDS = ['check', 'config'] as const;

function parseCommandLine(argv: string[]): CommandLine {
  const rest = [...argv];
  const sub = SUBCOMMANDS.find((c) => c === rest[0]);
  const command = sub ?? 'run';
  if (sub) rest.shift();
  if (rest.includes('--help') || rest.includes('-h')) return { command: 'help', args: [] };
  if (rest.includes('--version')) return { command: 'version', args: [] };
  const offline = command === 'check' && rest.includes('--offline');
  if (offline) rest.splice(rest.indexOf('--offline'), 1);
  let file: string | undefined;
  const args: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i];
    if (arg === '--config' || arg === '-c') {
      file = rest[++i];
      if (file === undefined || file.startsWith('--')) throw new ConfigError(`${arg} needs a file`);
    } else if (arg.startsWith('--config=')) {
      file = arg.slice('--config='.length);
    } else {
      args.push(arg);
    }
  }
  return { command, file, args, offline };
}

/** A default as it would be written in an argument: lists comma-separated, strings quoted. */
function shownDefault(value: unknown): string {
  if (Array.isArray(value)) {
    if (value.length === 0) return 'empty';
    if (value.every((v) => typeof v !== 'object')) return value.join(',');
  }
  return JSON.stringify(value);
}

function helpText(): string {
  const keys = configDocs().map(
    (d) => `  ${d.key}  (default ${shownDefault(d.default)})\n      env ${d.env}\n      ${d.doc}\n`,
  );
  return `Usage:
  memfront [--config FILE] [--KEY=VALUE ...]        start the proxy in the foreground
  memfront check [--config FILE] [--KEY=VALUE ...]  validate the config, then check the servers it names
  memfront check --offline [--config FILE] [...]    validate the config only; list the servers, contact none
  memfront config [--config FILE] [--KEY=VALUE ...] print the effective config: every key, its value and
                                                    its source (default, file, env or arg)
  memfront --version                                the version
  memfront --help                                   this text
  memfront stat | inspect URL                       a running memfront's numbers, a URL's entry (stat --help)

  --config FILE, -c FILE   a JSON config file (every key optional)

Each config key below can be set in the file, in its environment variable or as an argument
(--KEY=VALUE or --KEY VALUE). Precedence: argument > environment > file > default.
Lists are comma-separated in env and arguments; routes, cache.rules and reproxy.services take
JSON there. A MEMFRONT_* variable that names no key, and a TTL above cache.maxTtl (it is capped),
get a warning on stderr.

On SIGTERM/SIGINT memfront stops accepting, lets in-flight requests finish (up to
shutdownGraceMs) and exits 0; a second signal exits at once. On SIGHUP it reads the config
again (same file, environment and arguments): a valid one takes effect for new requests, an
invalid one is logged and the running config kept.
workers > 1 (or 0: one per core) runs that many processes sharing the port; the admin
listener then runs in the primary and /metrics sums the workers.
Exit status: 0 stopped cleanly, 1 failed to start or stop, 2 bad config.
memfront check exits 0 when every server named in the config answers, 1 otherwise
(with --offline: 0 once the config is valid).

Config keys (shown with their defaults):
${keys.join('')}`;
}

/** `stat` and `inspect` talk to a running memfront (cli/admin-commands.ts). */
async function adminCommand(argv: string[]): Promise<void> {
  const { ADMIN_USAGE, runAdminCommand } = await import('./cli/admin-commands.js');
  if (argv.includes('--help') || argv.includes('-h')) {
    process.stdout.write(`Usage:\n${ADMIN_USAGE}`);
    return;
  }
  try {
    process.exitCode = await runAdminCommand(argv);
  } catch (err) {
    process.stderr.write(`memfront ${argv[0]}: ${(err as Error).message}\n`);
    process.exitCode = err instanceof ConfigError ? EXIT_BAD_CONFIG : EXIT_FAILED;
  }
}

async function main(argv: string[]): Promise<void> {
  if (argv[0] === 'stat' || argv[0] === 'inspect') return adminCommand(argv);
  let line: CommandLine;
  let read: ReadConfig;
  try {
    line = parseCommandLine(argv);
    if (line.command === 'help') {
      process.stdout.write(helpText());
      return;
    }
    if (line.command === 'version') {
      const { VERSION } = await import('./admin/version.js');
      process.stdout.write(`memfront ${VERSION}\n`);
      return;
    }
    read = readConfig({ file: line.file, args: line.args, env: process.env });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`memfront: ${err.message}\n`);
    process.exitCode = EXIT_BAD_CONFIG;
    return;
  }
  for (const warning of read.warnings) process.stderr.write(`memfront: warning: ${warning}\n`);
  const config = read.config;
  if (line.command === 'config') {
    const { formatEffectiveConfig } = await import('./config/show-config.js');
    process.stdout.write(formatEffectiveConfig(config, read.sources));
    return;
  }
  if (line.command === 'check') {
    await check(config, line.offline === true);
    return;
  }
  // A reload reads the same sources again: the file as it is now, the same env and arguments.
  const sources: LoadOptions = { file: line.file, args: line.args, env: process.env };
  const { resolveWorkers, runPrimary } = await import('./cluster.js');
  if (resolveWorkers(config.workers) > 1) {
    await runPrimary({ config, logger: createLogger(config.log), readConfig: () => loadConfig(sources) });
  } else {
    await run(config, sources);
  }
}

async function check(config: LoadedConfig, offline: boolean): Promise<void> {
  const { runCheck, runOfflineCheck } = await import('./check.js');
  process.exitCode = offline ? runOfflineCheck(config) : await runCheck(config);
}

/**
 * SIGHUP with one process: validate, then swap the engine in place; a bad file changes
 * nothing. Resolves the config now running.
 */
async function reload(app: Memfront, running: LoadedConfig, sources: LoadOptions, logger: Logger): Promise<LoadedConfig> {
  let next: LoadedConfig;
  try {
    next = loadConfig(sources);
  } catch (err) {
    app.metrics.reloaded(false);
    logger.error({ err }, 'config reload failed; keeping the running config');
    return running;
  }
  try {
    const plan = await app.reload(next);
    app.metrics.reloaded(true);
    logger.info({ changed: plan.changed, workers: 1 }, 'config reloaded');
    const { resolveWorkers } = await import('./cluster.js');
    const restartOnly = [...plan.needsRestart, ...(resolveWorkers(next.workers) !== 1 ? ['workers'] : [])];
    if (restartOnly.length > 0) logger.warn({ keys: restartOnly }, 'these keys take effect on restart');
    return next;
  } catch (err) {
    app.metrics.reloaded(false);
    logger.error({ err }, 'config reload failed; keeping the running config');
    return running;
  }
}

async function run(config: LoadedConfig, sources: LoadOptions): Promise<void> {
  const logger = createLogger(config.log);
  // pino writes what is still buffered when the process exits, so exiting at once loses no line.
  const exit = (code: number): never => process.exit(code);
  process.on('uncaughtException', (err) => {
    logger.fatal({ err }, 'uncaught exception');
    exit(EXIT_FAILED);
  });

  const started = import('./server.js').then(({ startMemfront }) => startMemfront(config, { logger }));
  let stopping = false;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting at once');
      exit(EXIT_FAILED);
    }
    stopping = true;
    logger.info({ signal, graceMs: config.shutdownGraceMs }, 'shutting down');
    setTimeout(() => {
      logger.error({ graceMs: config.shutdownGraceMs }, 'shutdown overran its grace period');
      exit(EXIT_FAILED);
    }, config.shutdownGraceMs + CLOSE_OVERRUN_MS).unref();
    started
      .then((app) => app.close(config.shutdownGraceMs))
      .then(
        () => {
          logger.info('stopped');
          exit(0);
        },
        (err: unknown) => {
          logger.error({ err }, 'shutdown failed');
          exit(EXIT_FAILED);
        },
      );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  // Reloads one at a time, in the order the signals came.
  let reloads = Promise.resolve();
  process.on('SIGHUP', () => {
    reloads = reloads.then(async () => {
      if (stopping) return;
      const app = await started.catch(() => undefined);
      // shutdownGraceMs and the rest of a reloaded config apply to the next shutdown too.
      if (app && !stopping) config = await reload(app, config, sources, logger);
    });
  });

  try {
    await started;
  } catch (err) {
    logger.fatal({ err }, 'memfront failed to start');
    exit(EXIT_FAILED);
  }
}

if (cluster.isWorker) {
  const { runWorker } = await import('./cluster.js');
  runWorker();
} else {
  await main(process.argv.slice(2));
}
