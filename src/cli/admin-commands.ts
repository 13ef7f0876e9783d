// The subcommands that talk to a running memfront's admin port: `stat` and `inspect`.
// Their own options are taken out here; the rest (--config FILE, --key=value) find the admin
// port as the running memfront found it.
import { ConfigError } from '../errors.js';
import { loadConfig } from '../config/load.js';
import { adminBase } from './admin-client.js';

export const ADMIN_COMMANDS = ['stat', 'inspect'];

export const ADMIN_USAGE = `  memfront stat [--once] [--interval MS] [--admin URL | --config FILE ...]
                                                    live view of a running memfront (Ctrl-C ends it)
  memfront inspect URL [--host HOST] [--tag TAG ...] [--json] [--admin URL | --config FILE ...]
                                                    what is cached for URL (exit 0 cached, 3 not);
                                                    --tag: does the entry carry TAG
`;

/** Runs `stat` or `inspect`; resolves the exit status. */
export async function runAdminCommand(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  let once = false;
  let json = false;
  let intervalMs = 1000;
  let admin: string | undefined;
  let host: string | undefined;
  let file: string | undefined;
  const tags: string[] = [];
  const positional: string[] = [];
  const configArgs: string[] = [];
  const value = (i: number, flag: string): string => {
    const v = rest[i];
    if (v === undefined || v.startsWith('--')) throw new ConfigError(`${flag} needs a value`);
    return v;
  };
  for (let i = 0; i < rest.length; i++) {
    const a = rest[i];
    if (a === '--once') once = true;
    else if (a === '--json') json = true;
    else if (a === '--interval') intervalMs = Number(value(++i, a));
    else if (a === '--admin') admin = value(++i, a);
    else if (a.startsWith('--admin=')) admin = a.slice('--admin='.length);
    else if (a === '--host') host = value(++i, a);
    else if (a === '--tag') tags.push(value(++i, a));
    else if (a === '--config' || a === '-c') file = value(++i, a);
    else if (a.startsWith('--config=')) file = a.slice('--config='.length);
    else if (a.startsWith('-')) configArgs.push(a);
    else positional.push(a);
  }
  if (!Number.isFinite(intervalMs) || intervalMs < 50) throw new ConfigError('--interval must be a number of milliseconds, at least 50');
  const base = admin ?? adminBase(loadConfig({ file, args: configArgs, env: process.env }).admin);
  if (command === 'stat') {
    const { runStat } = await import('./stat.js');
    await runStat({ base, once, intervalMs, out: process.stdout });
    return 0;
  }
  if (positional.length !== 1) throw new ConfigError('inspect needs one URL: memfront inspect http://example.com/path (or a path and --host)');
  const { runInspect } = await import('./inspect.js');
  return runInspect({ base, url: positional[0], host, tags, json, out: process.stdout });
}
