// Builds the one validated, frozen config from defaults, a JSON file, the environment and
// --key.path=value arguments (later wins), or fails with a ConfigError of one line that
// names the key or the file: memfront never starts half-configured.

import { readFileSync } from 'node:fs';
import convict from 'convict';
import { ConfigError } from '../errors.js';
import {
  formatOf,
  isLeaf,
  isPlainObject,
  relationProblems,
  schema,
  schemaKeys,
  show,
  type KeySpec,
  type LoadedConfig,
  type SchemaBranch,
} from './schema.js';
import { ttlWarnings, unknownEnvWarnings } from './warnings.js';

export type { LoadedConfig } from './schema.js';

export interface LoadOptions {
  /** A JSON config file. */
  file?: string;
  /** `--key.path=value` or `--key.path value`; a boolean key alone means true. */
  args?: string[];
  /** Defaults to process.env. */
  env?: NodeJS.ProcessEnv;
}

/** The contract's default for an offload route's minSize (bytes). */
const OFFLOAD_MIN_SIZE = 1048576;

/** Where a key's value came from: the last of these sources that set it. */
export type ValueSource =
  | { kind: 'default' }
  | { kind: 'file'; file: string }
  | { kind: 'env'; name: string }
  | { kind: 'arg'; flag: string };

export interface ReadConfig {
  config: LoadedConfig;
  /** Every key (as configDocs names them) → its source. */
  sources: Map<string, ValueSource>;
  /** Valid but probably unintended: one line each, for stderr. */
  warnings: string[];
}

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  return readConfig(opts).config;
}

/** loadConfig, also saying where each value came from and what looks unintended. */
export function readConfig(opts: LoadOptions = {}): ReadConfig {
  // convict gets no env or args of its own: each source is applied below in precedence order,
  // so every value's origin is known and can be named when it is wrong.
  const cfg = convict(schema as convict.Schema<LoadedConfig>, { env: {}, args: [] });
  const origin = new Map<string, string>();
  const sources = new Map<string, ValueSource>(schemaKeys().map(({ key }) => [key, { kind: 'default' }]));
  const apply = (key: string, value: unknown, from: string, source: ValueSource): void => {
    cfg.set(key, value);
    origin.set(key, from);
    sources.set(key, source);
  };

  if (opts.file !== undefined) {
    const file = opts.file;
    for (const [key, value] of fileValues(file)) apply(key, value, `in ${file}`, { kind: 'file', file });
  }
  const env = opts.env ?? process.env;
  for (const { key, spec } of schemaKeys()) {
    const value = env[spec.env];
    if (value !== undefined) apply(key, value, `from ${spec.env}`, { kind: 'env', name: spec.env });
  }
  for (const [key, value, flag] of argValues(opts.args ?? [])) apply(key, value, `from ${flag}`, { kind: 'arg', flag });

  try {
    cfg.validate({ allowed: 'strict' });
  } catch (err) {
    throw new ConfigError(describeInvalid((err as Error).message, origin), { cause: err });
  }

  const config = cfg.getProperties();
  const problems = relationProblems(config);
  if (problems.length > 0) throw new ConfigError(oneLine(problems.join('; ')));
  config.routes = config.routes.map((r) => (r.to === 'offload' && r.minSize === undefined ? { ...r, minSize: OFFLOAD_MIN_SIZE } : r));
  const warnings = [
    ...unknownEnvWarnings(env, schemaKeys().map(({ spec }) => spec.env)),
    ...ttlWarnings(config),
  ];
  return { config: deepFreeze(config), sources, warnings };
}

/** Every key with its documentation, default and env name, for --help. */
export function configDocs(): Array<{ key: string; doc: string; default: unknown; env: string }> {
  return schemaKeys().map(({ key, spec }) => ({ key, doc: spec.doc, default: spec.default, env: spec.env }));
}

/** The file's leaf values by key path. Unknown keys and values of the wrong JSON type are refused here. */
function fileValues(file: string): Array<[string, unknown]> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new ConfigError(`cannot read config file ${file}: ${e.code ?? oneLine(e.message)}`, { cause: err });
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`cannot parse ${file}: ${oneLine((err as Error).message)}${where(text, err as Error)}`, { cause: err });
  }
  if (!isPlainObject(data)) throw new ConfigError(`cannot use ${file}: it must hold a JSON object, not ${show(data)}`);
  const out: Array<[string, unknown]> = [];
  collect(data, schema, '', file, out);
  return out;
}

function collect(data: Record<string, unknown>, branch: SchemaBranch, prefix: string, file: string, out: Array<[string, unknown]>): void {
  for (const [name, value] of Object.entries(data)) {
    const key = prefix === '' ? name : `${prefix}.${name}`;
    const node = Object.hasOwn(branch, name) ? branch[name] : undefined;
    if (node === undefined) throw new ConfigError(`unknown config key "${key}" in ${file}`);
    if (isLeaf(node)) {
      // Values in a file are JSON: "8080" is a string, not a port. Only env and argument
      // strings are converted.
      if (!hasKind(value, node)) {
        throw new ConfigError(`${key}: must be ${formatOf(node.format).expect}, got ${show(value)} (in ${file})`);
      }
      out.push([key, value]);
    } else if (isPlainObject(value)) {
      collect(value, node, key, file, out);
    } else {
      throw new ConfigError(`${key}: must be an object with keys ${Object.keys(node).join(', ')}, got ${show(value)} (in ${file})`);
    }
  }
}

function hasKind(value: unknown, spec: KeySpec): boolean {
  switch (formatOf(spec.format).kind) {
    case 'array': return Array.isArray(value);
    case 'object': return isPlainObject(value);
    default: return typeof value === formatOf(spec.format).kind;
  }
}

/** Arguments as [key, value, flag]; anything that is not a config key is refused. */
function argValues(args: string[]): Array<[string, string, string]> {
  const byArg = new Map(schemaKeys().map(({ key, spec }) => [spec.arg, { key, spec }]));
  const out: Array<[string, string, string]> = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i];
    if (!arg.startsWith('--') || arg === '--') {
      throw new ConfigError(`unexpected argument ${show(arg)}: options look like --listen.port=8080 (see memfront --help)`);
    }
    const eq = arg.indexOf('=');
    const name = eq === -1 ? arg.slice(2) : arg.slice(2, eq);
    const found = byArg.get(name);
    if (found === undefined) throw new ConfigError(`unknown config key "${name}" (from --${name}; see memfront --help)`);
    const next = args[i + 1];
    let value: string;
    if (eq !== -1) value = arg.slice(eq + 1);
    else if (next !== undefined && !next.startsWith('--')) value = args[++i];
    else if (formatOf(found.spec.format).kind === 'boolean') value = 'true';
    else throw new ConfigError(`${found.key}: --${name} needs a value`);
    out.push([found.key, value, `--${name}`]);
  }
  return out;
}

/**
 * convict reports one "key: reason" line per problem; ours become one line, each naming where
 * the value came from.
 */
function describeInvalid(message: string, origin: Map<string, string>): string {
  const lines = message.split('\n').filter((l) => l.trim() !== '').map((line) => {
    // The line may name a part of a key's value (reproxy.services.images): look for its key.
    let key = /^[\w.]+/.exec(line)?.[0] ?? '';
    while (key !== '' && !origin.has(key)) key = key.slice(0, Math.max(0, key.lastIndexOf('.')));
    const from = origin.get(key);
    return from === undefined ? line : `${line} (${from})`;
  });
  return oneLine(lines.join('; '));
}

function oneLine(s: string): string {
  return s.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

/** " (line L column C)" from V8's "at position N", when it says so. */
function where(text: string, err: Error): string {
  const m = /at position (\d+)/.exec(err.message);
  if (!m) return '';
  const before = text.slice(0, Number(m[1])).split('\n');
  return ` (line ${before.length} column ${before[before.length - 1].length + 1})`;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}
