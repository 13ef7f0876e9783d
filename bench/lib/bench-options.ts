// `npm run bench` options: parsed, checked and defaulted in one place, with the help text
// beside them so the two cannot drift apart.

import { flagValue, numberFlag } from './cli-flags.js';

export type Competitor = 'nginx' | 'varnish';

export interface BenchOptions {
  quick: boolean;
  pages: number;
  zipfS: number;
  loggedInShare: number;
  gzipShare: number;
  purgeRatePerS: number;
  durationS?: number;
  requests?: number;
  connections: number;
  ratePerS?: number;
  renderMs: number;
  baseline: boolean;
  baselineDurationS: number;
  compare: Competitor[];
  target?: string;
  urlsFile?: string;
  adminUrl?: string;
  /** The TTL to assume for the theory when driving a --target (its headers are unknown here). */
  ttlS?: number;
  /** A memfront config file whose keys are merged over the bench's own. */
  configFile?: string;
  /** memfront's workers; undefined = the bench's 1 (or what --config says). */
  workers?: number;
  outDir: string;
  seed: number;
  progress: boolean;
  help: boolean;
}

export const HELP = `npm run bench -- [options]

Starts a synthetic CMS backend (pages of 2-200 KB, a render time per page), memcached and
memfront in front, drives a Zipf workload of anonymous and logged-in visitors with page
updates (purges), and reports hit rates, throughput, latency per outcome, bytes and memfront's
CPU and memory: on the terminal, and as JSON and HTML in bench-results/.

Workload
  --pages N              distinct URLs (default 1000)
  --zipf S               Zipf exponent of page popularity (default 1.0; 0 = uniform)
  --logged-in SHARE      share of requests from logged-in visitors, 0..1 (default 0.1)
  --gzip SHARE           share of requests accepting gzip, 0..1 (default 0.9)
  --purge-rate N         pages updated (and purged) per second (default 1; 0 = none)
  --render-ms N          the backend's render time per page (default 20)
Load
  --duration S           seconds per measurement (default 60)
  --requests N           stop after N requests instead (or whichever comes first)
  --connections N        concurrent connections (default 50)
  --rate N               requests per second in total (default: as fast as answers come)
Comparisons
  --baseline             also measure cache hits alone (warm cache), a bare Node server
                         answering a constant body of the same size (the ceiling), and the
                         backend alone; the report states ratios
  --baseline-duration S  seconds for each of those (default 15)
  --compare [LIST]       nginx,varnish (default both): put nginx srcache+memc and Varnish in
                         front of the same backend when they are installed
memfront
  --config FILE          a memfront config whose keys are merged over the bench's
  --workers N            memfront's workers (default 1; only 1 is pinned to a core)
Existing deployment
  --target URL           drive URL instead of starting anything (needs --urls)
  --urls FILE            one path or URL per line, most popular first
  --admin URL            memfront's admin URL there, to read its /metrics
  --ttl S                the TTL to assume for the theoretical hit rate
Output
  --out DIR              where the JSON and HTML go (default bench-results)
  --seed N               seed of the workload's random draws (default 1)
  --no-progress          no progress bar (a line every 5 s instead)
  --quick                a short run: 200 pages, 10 s (5 s per baseline)
  --help                 this text
`;

const VALUE_FLAGS = [
  'pages', 'zipf', 'logged-in', 'gzip', 'purge-rate', 'render-ms', 'duration', 'requests', 'connections', 'rate',
  'baseline-duration', 'compare', 'target', 'urls', 'admin', 'ttl', 'config', 'workers', 'out', 'seed',
];
const BOOLEAN_FLAGS = ['baseline', 'quick', 'no-progress', 'help'];

function share(argv: readonly string[], name: string, fallback: number): number {
  const v = numberFlag(argv, name, fallback);
  if (v > 1) throw new Error(`--${name} is a share between 0 and 1, got ${v}`);
  return v;
}

function positiveInt(argv: readonly string[], name: string, fallback: number): number {
  const v = numberFlag(argv, name, fallback);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} wants a whole number of at least 1, got ${v}`);
  return v;
}

function optionalPositive(argv: readonly string[], name: string): number | undefined {
  if (flagValue(argv, name) === undefined) return undefined;
  const v = numberFlag(argv, name, 0);
  if (v <= 0) throw new Error(`--${name} must be above 0`);
  return v;
}

function parseCompare(argv: readonly string[]): Competitor[] {
  const i = argv.findIndex((a) => a === '--compare' || a.startsWith('--compare='));
  if (i < 0) return [];
  const inline = argv[i].startsWith('--compare=') ? argv[i].slice('--compare='.length) : undefined;
  const next = argv[i + 1];
  const raw = inline ?? (next !== undefined && !next.startsWith('--') ? next : 'nginx,varnish');
  const out: Competitor[] = [];
  for (const name of raw.split(',').map((s) => s.trim().toLowerCase()).filter(Boolean)) {
    if (name !== 'nginx' && name !== 'varnish') throw new Error(`--compare knows nginx and varnish, not ${JSON.stringify(name)}`);
    if (!out.includes(name)) out.push(name);
  }
  return out;
}

/** Every argument must be a known flag or a flag's value: a typo must not silently run the defaults. */
function checkKnown(argv: readonly string[]): void {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--')) throw new Error(`unexpected argument ${JSON.stringify(arg)} (see --help)`);
    const name = arg.slice(2).split('=')[0];
    if (BOOLEAN_FLAGS.includes(name)) continue;
    if (!VALUE_FLAGS.includes(name)) throw new Error(`unknown option --${name} (see --help)`);
    if (arg.includes('=')) continue;
    const next = argv[i + 1];
    if (name === 'compare' && (next === undefined || next.startsWith('--'))) continue;
    if (next === undefined) throw new Error(`--${name} needs a value`);
    i++;
  }
}

export function parseBenchOptions(argv: readonly string[]): BenchOptions {
  if (argv.includes('--help') || argv.includes('-h')) return { ...parseBenchOptions([]), help: true };
  checkKnown(argv);
  const quick = argv.includes('--quick');
  const requests = optionalPositive(argv, 'requests');
  const durationGiven = flagValue(argv, 'duration') !== undefined;
  const target = flagValue(argv, 'target');
  const urlsFile = flagValue(argv, 'urls');
  if (target !== undefined && urlsFile === undefined) throw new Error('--target needs --urls FILE (the paths to request, most popular first)');
  if (urlsFile !== undefined && target === undefined) throw new Error('--urls is for --target; the synthetic workload makes its own URLs');
  if (target !== undefined && !/^https?:\/\//.test(target)) throw new Error(`--target wants an http:// or https:// URL, got ${JSON.stringify(target)}`);
  const compare = parseCompare(argv);
  if (target !== undefined && compare.length > 0) throw new Error('--compare starts servers in front of the synthetic backend; it does not combine with --target');
  const opts: BenchOptions = {
    quick,
    pages: positiveInt(argv, 'pages', quick ? 200 : 1000),
    zipfS: numberFlag(argv, 'zipf', 1.0),
    loggedInShare: share(argv, 'logged-in', 0.1),
    gzipShare: share(argv, 'gzip', 0.9),
    // Purging someone's live site is not a default; the synthetic one is ours to change.
    purgeRatePerS: numberFlag(argv, 'purge-rate', target !== undefined ? 0 : 1),
    durationS: durationGiven ? optionalPositive(argv, 'duration') : requests !== undefined ? undefined : quick ? 10 : 60,
    requests,
    connections: positiveInt(argv, 'connections', 50),
    ratePerS: optionalPositive(argv, 'rate'),
    renderMs: numberFlag(argv, 'render-ms', 20),
    baseline: argv.includes('--baseline'),
    baselineDurationS: optionalPositive(argv, 'baseline-duration') ?? (quick ? 5 : 15),
    compare,
    target,
    urlsFile,
    adminUrl: flagValue(argv, 'admin'),
    ttlS: optionalPositive(argv, 'ttl'),
    configFile: flagValue(argv, 'config'),
    workers: flagValue(argv, 'workers') !== undefined ? numberFlag(argv, 'workers', 1) : undefined,
    outDir: flagValue(argv, 'out') ?? 'bench-results',
    seed: numberFlag(argv, 'seed', 1),
    progress: !argv.includes('--no-progress'),
    help: false,
  };
  if (target !== undefined && opts.baseline) throw new Error('--baseline needs the synthetic backend; it does not combine with --target');
  return opts;
}
