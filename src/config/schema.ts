// The convict schema for every key of CONTRACT.md's config file, and the formats that check
// each value and say in one line what is wrong with it.

import { BlockList, isIP } from 'node:net';
import convict from 'convict';
import type { Config, RouteConfig, UrlRule } from './types.js';

/** The config as loaded: the contract's keys plus `log.pretty` (pino-pretty output for development). */
export type LoadedConfig = Config & { log: { level: string; pretty: boolean } };

/** The JSON type a key holds in a config file. Env and argument strings are coerced to it. */
export type JsonKind = 'number' | 'boolean' | 'string' | 'array' | 'object';

/**
 * convict prefixes a format's error with its key and appends the whole offending value.
 * Our messages already quote what is wrong (the whole value may be a long list of routes), so
 * the value is hidden; `suffix` lets an element name itself, as in `routes[1]: bad regex`.
 */
class FormatError extends Error {
  #name: string | undefined;
  readonly #suffix: string;
  constructor(message: string, suffix = '') {
    super(message);
    this.#suffix = suffix;
  }
  get fullName(): string | undefined {
    return this.#name;
  }
  set fullName(key: string) {
    this.#name = key + this.#suffix;
  }
  get value(): undefined {
    return undefined;
  }
  set value(_ignored: unknown) {}
}

function fail(message: string, suffix?: string): never {
  throw new FormatError(message, suffix);
}

/** A value quoted for an error message, cut short so the message stays one readable line. */
export function show(x: unknown): string {
  const s = JSON.stringify(x) ?? String(x);
  return s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

export function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/**
 * Contract, "Default session cookies": the session and login cookies of the CMSs memfront is
 * deployed in front of (PHP, Django, Java, Express, Laravel, Rails' `_app_session`, Drupal's
 * SESS/SSESS, WordPress logins, post passwords and comment authors, WooCommerce carts). A
 * request carrying any of them is someone's own, never anonymous.
 */
export const DEFAULT_SESSION_COOKIES = [
  'PHPSESSID',
  'sessionid',
  'JSESSIONID',
  'connect.sid',
  'laravel_session',
  '*_session',
  'SESS*',
  'SSESS*',
  'wordpress_logged_in_*',
  'wordpress_sec_*',
  'wp-postpass_*',
  'comment_author_*',
  'woocommerce_*',
  'wp_woocommerce_session_*',
];

const isCount = (x: unknown): x is number => Number.isSafeInteger(x) && (x as number) >= 0;
const isHttpUrl = (x: unknown): boolean => {
  if (typeof x !== 'string') return false;
  try {
    const u = new URL(x);
    return (u.protocol === 'http:' || u.protocol === 'https:') && u.hostname !== '';
  } catch {
    return false;
  }
};
// A template may hold $1… anywhere, even in the host, so only its shape is checked.
const isHttpUrlTemplate = (x: unknown): boolean => typeof x === 'string' && /^https?:\/\/[^\s/]/i.test(x);

// Env and argument values are strings. Coercion only converts what clearly is the target
// type and leaves anything else as a string, for validation to report with its text.
const toInt = (s: string): unknown => (/^\s*-?\d+\s*$/.test(s) ? Number(s) : s);
const toList = (s: string): string[] => s.split(',').map((v) => v.trim()).filter((v) => v !== '');
const toJson = (s: string): unknown => {
  try {
    return JSON.parse(s);
  } catch {
    return s;
  }
};

function isCidr(s: string): boolean {
  const slash = s.indexOf('/');
  if (slash === -1) return false;
  const addr = s.slice(0, slash);
  const bits = s.slice(slash + 1);
  const family = isIP(addr);
  if (family === 0 || !/^\d{1,3}$/.test(bits)) return false;
  try {
    new BlockList().addSubnet(addr, Number(bits), family === 4 ? 'ipv4' : 'ipv6');
    return true;
  } catch {
    return false;
  }
}

function isHostPort(s: string): boolean {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^\s:[\]/]+):(\d{1,5})$/.exec(s);
  if (!m) return false;
  const port = Number(m[2]);
  return port >= 1 && port <= 65535 && (!m[1].startsWith('[') || isIP(m[1].slice(1, -1)) === 6);
}

interface MfFormat {
  kind: JsonKind;
  /** What a valid value is, completing "must be …". */
  expect: string;
  validate(x: unknown): void;
  coerce?(s: string): unknown;
}

/** A list given as JSON (in env and arguments too), each item checked by `item`. */
function jsonList(expect: string, item: (x: unknown, i: number) => void): MfFormat {
  return {
    kind: 'array',
    expect,
    validate(x) {
      if (typeof x === 'string') fail(`must be JSON (${expect}), got ${show(x)}`);
      if (!Array.isArray(x)) fail(`must be ${expect}, got ${show(x)}`);
      x.forEach(item);
    },
    coerce: toJson,
  };
}

function scalar(kind: JsonKind, expect: string, ok: (x: unknown) => boolean, coerce?: (s: string) => unknown): MfFormat {
  return {
    kind,
    expect,
    validate(x) {
      if (!ok(x)) fail(`must be ${expect}, got ${show(x)}`);
    },
    coerce,
  };
}

function oneOf(values: readonly string[]): MfFormat {
  return scalar('string', `one of ${values.join(', ')}`, (x) => values.includes(x as string));
}

/** A list whose elements are checked one by one, so the message names the bad one. */
function list(expect: string, element: string, ok: (x: unknown) => boolean, coerce: (s: string) => unknown = toList): MfFormat {
  return {
    kind: 'array',
    expect,
    validate(x) {
      if (!Array.isArray(x)) fail(`must be ${expect}, got ${show(x)}`);
      for (const v of x) if (!ok(v)) fail(`${show(v)} is not ${element}`);
    },
    coerce,
  };
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
const ROUTE_TARGETS = ['backend', 'reproxy', 'mogile', 'static', 'offload'] as const;
const ROUTE_FALLBACKS = ['static', 'mogile', 'backend'] as const;
const ROUTE_FIELDS = ['match', 'to', 'key', 'url', 'fallback', 'servers', 'minSize'];

function validateRoute(r: unknown, i: number): void {
  const at = `[${i}]`;
  if (!isPlainObject(r)) fail(`must be an object like {"match": "^/assets/", "to": "static"}, got ${show(r)}`, at);
  for (const field of Object.keys(r)) {
    if (!ROUTE_FIELDS.includes(field)) fail(`unknown field "${field}" (a route has ${ROUTE_FIELDS.join(', ')})`, at);
  }
  if (typeof r.match !== 'string') fail(`"match" must be a regular expression string, got ${show(r.match)}`, at);
  try {
    new RegExp(r.match);
  } catch (err) {
    fail(`bad regex ${JSON.stringify(r.match)}: ${(err as Error).message}`, at);
  }
  if (!ROUTE_TARGETS.includes(r.to as RouteConfig['to'])) {
    fail(`"to" must be one of ${ROUTE_TARGETS.join(', ')}, got ${show(r.to)}`, at);
  }
  if (r.key !== undefined && (typeof r.key !== 'string' || r.key === '')) fail(`"key" must be a non-empty string, got ${show(r.key)}`, at);
  if (r.url !== undefined && !isHttpUrlTemplate(r.url)) fail(`"url" must be an http:// or https:// URL, got ${show(r.url)}`, at);
  if (r.fallback !== undefined && !ROUTE_FALLBACKS.includes(r.fallback as never)) {
    fail(`"fallback" must be one of ${ROUTE_FALLBACKS.join(', ')}, got ${show(r.fallback)}`, at);
  }
  if (r.servers !== undefined && !(Array.isArray(r.servers) && r.servers.every(isHttpUrl))) {
    fail(`"servers" must be a list of http(s) URLs, got ${show(r.servers)}`, at);
  }
  if (r.minSize !== undefined && !isCount(r.minSize)) fail(`"minSize" must be a whole number of bytes, got ${show(r.minSize)}`, at);
  // Each target needs its own field to do anything at all.
  if (r.to === 'reproxy' && r.url === undefined) fail('a reproxy route needs "url"', at);
  if (r.to === 'mogile' && r.key === undefined) fail('a mogile route needs "key"', at);
  if (r.fallback === 'mogile' && r.key === undefined) fail('"fallback": "mogile" needs "key" (the MogileFS key template)', at);
  if (r.to === 'offload' && !(Array.isArray(r.servers) && r.servers.length > 0)) fail('an offload route needs a non-empty "servers" list', at);
}

const RULE_FIELDS = ['match', 'pass', 'ttl'];

// CONTRACT.md "Per-URL rules": {match, pass: true} or {match, ttl}; anything else would be a
// rule that silently does nothing, so it is refused.
function validateRule(r: unknown, i: number): void {
  const at = `[${i}]`;
  if (!isPlainObject(r)) fail(`must be an object like {"match": "^/wp-admin/", "pass": true} or {"match": "^/feed/", "ttl": 60}, got ${show(r)}`, at);
  for (const field of Object.keys(r)) {
    if (!RULE_FIELDS.includes(field)) fail(`unknown field "${field}" (a rule has match and either pass or ttl)`, at);
  }
  if (typeof r.match !== 'string' || r.match === '') fail(`"match" must be a regular expression string, got ${show(r.match)}`, at);
  try {
    new RegExp(r.match);
  } catch (err) {
    fail(`bad regex ${JSON.stringify(r.match)}: ${(err as Error).message}`, at);
  }
  if (r.pass === undefined && r.ttl === undefined) fail('a rule needs "pass": true or "ttl": seconds', at);
  if (r.pass !== undefined && r.ttl !== undefined) fail('a rule has either "pass" or "ttl", not both', at);
  if (r.pass !== undefined && r.pass !== true) fail(`"pass" must be true, got ${show(r.pass)} (leave the rule out to cache)`, at);
  if (r.ttl !== undefined && !isCount(r.ttl)) fail(`"ttl" must be a whole number of seconds >= 0, got ${show(r.ttl)}`, at);
}

// convict calls validate functions unbound, so they never use `this`.
const SERVICES_EXPECT = 'an object of service name → list of http(s) URLs, e.g. {"images": ["http://127.0.0.1:8090"]}';
const ROUTES_EXPECT = 'a list of routes like [{"match": "^/assets/", "to": "static"}]';
const RULES_EXPECT = 'a list of rules like [{"match": "^/wp-admin/", "pass": true}, {"match": "^/feed/", "ttl": 60}]';

const formats = {
  'mf-port': scalar('number', 'a port number (0-65535)', (x) => isCount(x) && x <= 65535, toInt),
  'mf-count': scalar('number', 'a whole number >= 0', isCount, toInt),
  'mf-positive': scalar('number', 'a whole number >= 1', (x) => isCount(x) && x >= 1, toInt),
  'mf-gzip-level': scalar('number', 'a gzip level from 1 (fastest) to 9 (smallest)', (x) => isCount(x) && x >= 1 && x <= 9, toInt),
  'mf-gzip-level-or-off': scalar('number', 'a gzip level from 1 (fastest) to 9 (smallest), or 0 for off', (x) => isCount(x) && x <= 9, toInt),
  'mf-bool': scalar('boolean', 'true or false', (x) => typeof x === 'boolean', (s) => {
    const v = s.trim().toLowerCase();
    return v === 'true' || v === '1' ? true : v === 'false' || v === '0' ? false : s;
  }),
  'mf-host': scalar('string', 'a host name or address', (x) => typeof x === 'string' && /^[^\s/]+$/.test(x)),
  'mf-text': scalar('string', 'a string', (x) => typeof x === 'string'),
  // Keys are "<prefix><digest>": memcached keys may not hold spaces or control characters.
  'mf-key-prefix': scalar('string', 'at most 64 characters with no spaces or control characters', (x) => typeof x === 'string' && /^[\x21-\x7e]{0,64}$/.test(x)),
  'mf-http-url': scalar('string', 'an http:// or https:// URL', isHttpUrl),
  'mf-optional-http-url': scalar('string', '"" or an http:// or https:// URL', (x) => x === '' || isHttpUrl(x)),
  'mf-log-level': oneOf(LOG_LEVELS),
  'mf-store': oneOf(['memcached', 'memory']),
  'mf-memcached-protocol': oneOf(['binary', 'text']),
  'mf-strings': list('a list of strings', 'a non-empty string', (v) => typeof v === 'string' && v !== ''),
  'mf-urls': list('a list of http(s) URLs', 'an http:// or https:// URL', isHttpUrl),
  'mf-host-ports': list('a list of host:port', 'host:port (e.g. 127.0.0.1:11211 or [::1]:11211)', (v) => typeof v === 'string' && isHostPort(v)),
  'mf-cidrs': list('a list of CIDRs', 'a CIDR such as 10.0.0.0/8, 192.0.2.7/32 or ::1/128', (v) => typeof v === 'string' && isCidr(v)),
  'mf-statuses': list('a list of HTTP status codes', 'an HTTP status code (100-599)', (v) => Number.isInteger(v) && (v as number) >= 100 && (v as number) <= 599,
    (s) => toList(s).map(toInt)),
  'mf-services': {
    kind: 'object',
    expect: SERVICES_EXPECT,
    validate(x) {
      if (typeof x === 'string') fail(`must be JSON (${SERVICES_EXPECT}), got ${show(x)}`);
      if (!isPlainObject(x)) fail(`must be ${SERVICES_EXPECT}, got ${show(x)}`);
      for (const [name, urls] of Object.entries(x)) {
        if (!(Array.isArray(urls) && urls.length > 0 && urls.every(isHttpUrl))) {
          fail(`must be a non-empty list of http(s) URLs, got ${show(urls)}`, `.${name}`);
        }
      }
    },
    coerce: toJson,
  },
  'mf-routes': jsonList(ROUTES_EXPECT, validateRoute),
  'mf-rules': jsonList(RULES_EXPECT, validateRule),
} satisfies Record<string, MfFormat>;

export type FormatName = keyof typeof formats;

convict.addFormats(formats);

export function formatOf(name: FormatName): MfFormat {
  return formats[name];
}

/** A config key as declared: its format, default and documentation. */
export interface KeySpec {
  format: FormatName;
  default: unknown;
  doc: string;
  env: string;
  arg: string;
}

function key<T>(format: FormatName, value: T, doc: string): convict.SchemaObj<T> & { format: FormatName } {
  // env and arg are filled in from the key's path by withNames below.
  return { format, default: value, doc };
}

/** MEMFRONT_ + the key path in upper snake case, splitting camelCase: backend.timeoutMs → MEMFRONT_BACKEND_TIMEOUT_MS. */
export function envName(path: string): string {
  return `MEMFRONT_${path.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/\./g, '_').toUpperCase()}`;
}

const MB = 1024 * 1024;

const declared: convict.Schema<LoadedConfig> = {
  listen: {
    host: key('mf-host', '0.0.0.0', 'Address the proxy listens on.'),
    port: key('mf-port', 8080, 'Port the proxy listens on (0 = any free port).'),
  },
  workers: key('mf-count', 1, 'Processes sharing the port; 0 = one per core.'),
  trustedProxies: key('mf-cidrs', [] as string[], 'CIDRs whose X-Forwarded-For is kept and appended to (and whose X-Forwarded-Proto/-Host are kept).'),
  shutdownGraceMs: key('mf-count', 10000, 'On SIGTERM/SIGINT, how long in-flight requests may take to finish (ms).'),
  sendTimeoutMs: key('mf-positive', 60000, 'A client that accepts no bytes of its answer for this long is disconnected (ms).'),
  backend: {
    url: key('mf-http-url', 'http://127.0.0.1:8081', 'The CMS backend that misses are proxied to.'),
    timeoutMs: key('mf-positive', 30000, 'How long to wait for the backend\'s headers, and for each gap between body bytes (ms).'),
  },
  cache: {
    enabled: key('mf-bool', true, 'Use the cache at all; false = every request goes to its route.'),
    store: key('mf-store', 'memcached' as 'memcached' | 'memory', '"memcached", or "memory" (embedded, one process).'),
    memcached: {
      servers: key('mf-host-ports', ['127.0.0.1:11211'], 'Memcached servers (host:port); several = consistent (ketama-style) hashing.'),
      timeoutMs: key('mf-positive', 50, 'A cache slower than this is treated as a miss (ms).'),
      keyPrefix: key('mf-key-prefix', 'mf1:', 'Prefix of every memcached key; memfronts sharing servers and prefix share entries and purges.'),
      maxItemSize: key('mf-positive', MB, 'The servers\' item size limit (memcached -I); larger entries are stored in chunks (bytes).'),
      protocol: key('mf-memcached-protocol', 'binary' as 'binary' | 'text', '"binary", or "text": memcached\'s text protocol, the one proxies (twemproxy, mcrouter) forward.'),
    },
    memory: {
      maxBytes: key('mf-positive', 268435456, 'Size of the embedded memory store (bytes).'),
    },
    l1: {
      maxBytes: key('mf-count', 67108864, 'In-process hot tier in front of memcached (bytes); 0 = off.'),
      ttlMs: key('mf-count', 1000, 'How long an L1 entry is served after it was read from or written to memcached (ms).'),
    },
    defaultTtl: key('mf-count', 300, 'Lifetime when the response gives no freshness (seconds).'),
    maxTtl: key('mf-count', 86400, 'Upper bound on any entry\'s lifetime (seconds).'),
    compressThreshold: key('mf-count', 2048, 'Bodies over this many bytes are stored gzipped.'),
    gzipLevel: key('mf-gzip-level', 1, 'zlib level of the bodies memfront gzips to store (1 fastest, 9 smallest; nginx\'s default is 1, Varnish\'s 6).'),
    hotGzip: {
      level: key('mf-gzip-level-or-off', 6, 'zlib level a page memfront gzipped at gzipLevel is gzipped at again once it is hot, so later hits write fewer bytes; 0 = never.'),
      hits: key('mf-positive', 100, 'L1 hits in one process that make a page hot (hotGzip.level).'),
    },
    maxObjectSize: key('mf-positive', MB, 'Larger bodies (as received) are streamed through, not stored (bytes).'),
    statuses: key('mf-statuses', [200, 203, 300, 301, 308, 404, 410], 'Response statuses that may be stored.'),
    honorCacheControl: key('mf-bool', true, 'false: anonymous responses are stored for defaultTtl whatever Cache-Control says (never with Set-Cookie).'),
    sessionCookies: key('mf-strings', DEFAULT_SESSION_COOKIES, 'Cookie names (* = wildcard) that make a request non-anonymous.'),
    ignoreQueryParams: key('mf-strings', ['utm_*', 'fbclid', 'gclid'], 'Query parameters (* = wildcard) left out of cache keys.'),
    staleWhileRevalidate: key('mf-count', 30, 'Seconds an expired entry may still be served while one request refreshes it.'),
    staleIfError: key('mf-count', 600, 'Seconds an expired entry may be served when the backend fails.'),
    rules: key('mf-rules', [] as UrlRule[],
      'Per-URL rules tried in order on the path and query, first match wins: {match, pass: true} never uses the cache; {match, ttl} stores for ttl seconds (JSON in env and arguments).'),
    maxVariants: key('mf-positive', 8, 'Variants stored per URL for a Vary other than Accept-Encoding; more are not stored (detail=too-many-variants).'),
    keep: key('mf-count', 3600, 'Seconds an expired entry stays in memcached past its stale windows, only to be revalidated (a 304 renews it; never served without one).'),
  },
  reproxy: {
    enabled: key('mf-bool', false, 'Honour X-Reproxy-URL / X-Reproxy-Service from the backend.'),
    allowedHosts: key('mf-strings', [] as string[], 'Hosts a reproxy URL may point at; others are skipped like a failed URL.'),
    preserveHeaders: key('mf-strings', ['Content-Type', 'Content-Disposition', 'Cache-Control', 'ETag', 'Last-Modified'],
      'Headers kept from the backend\'s response when reproxying; the rest come from the reproxied one.'),
    services: key('mf-services', {} as Record<string, string[]>, 'X-Reproxy-Service names → servers tried in turn (JSON in env and arguments).'),
  },
  mogile: {
    trackers: key('mf-host-ports', [] as string[], 'MogileFS trackers (host:port), tried in turn.'),
    domain: key('mf-text', '', 'MogileFS domain for get_paths.'),
    timeoutMs: key('mf-positive', 1000, 'How long to wait for a tracker (ms).'),
    memoTtlMs: key('mf-count', 3000, 'How long a key\'s paths are remembered, so a hot key costs one tracker query (ms); 0 = ask every time.'),
  },
  static: {
    servers: key('mf-urls', [] as string[], 'Static servers asked with HEAD, in turn, for "static" routes.'),
    memoTtlMs: key('mf-count', 5000, 'How long the server that has a path is remembered, so a hot path costs one HEAD (ms); 0 = ask every time.'),
  },
  offload: {
    base: key('mf-optional-http-url', '', 'On an offload server: the base it fetches from (e.g. http://base.example:8080); "" = not an offload server.'),
  },
  routes: key('mf-routes', [] as RouteConfig[],
    'Routes tried in order: {match, to: backend|reproxy|mogile|static|offload, key?, url?, fallback?, servers?, minSize?} (JSON in env and arguments).'),
  admin: {
    host: key('mf-host', '127.0.0.1', 'Address of the admin listener (GET /metrics, GET /healthz).'),
    port: key('mf-port', 8079, 'Port of the admin listener (0 = any free port).'),
    purgeAllow: key('mf-cidrs', ['127.0.0.1/32', '::1/128'], 'Sources (CIDRs) allowed to send PURGE.'),
  },
  log: {
    level: key('mf-log-level', 'info', `Log level: ${LOG_LEVELS.join(', ')}.`),
    pretty: key('mf-bool', false, 'Human-readable log output through pino-pretty (for development).'),
  },
};

/** A schema branch: key → branch or leaf. A leaf is what holds a `default`, as for convict. */
export type SchemaBranch = { [key: string]: SchemaBranch | KeySpec };

export function isLeaf(node: SchemaBranch | KeySpec): node is KeySpec {
  return 'default' in node;
}

function withNames(branch: SchemaBranch, prefix: string): SchemaBranch {
  const out: SchemaBranch = {};
  for (const [name, node] of Object.entries(branch)) {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    out[name] = isLeaf(node) ? { ...node, env: envName(path), arg: path } : withNames(node, path);
  }
  return out;
}

/** The schema with every key's env name and argument filled in from its path. */
export const schema: SchemaBranch = withNames(declared as unknown as SchemaBranch, '');

/** Every key, depth first in declaration order. */
export function schemaKeys(branch: SchemaBranch = schema, prefix = ''): Array<{ key: string; spec: KeySpec }> {
  return Object.entries(branch).flatMap(([name, node]) => {
    const path = prefix === '' ? name : `${prefix}.${name}`;
    return isLeaf(node) ? [{ key: path, spec: node }] : schemaKeys(node, path);
  });
}

/**
 * Problems between keys, each valid on its own: settings that could only fail every request.
 * One line each, naming the key.
 */
export function relationProblems(c: LoadedConfig): string[] {
  const problems: string[] = [];
  if (c.cache.enabled && c.cache.store === 'memcached' && c.cache.memcached.servers.length === 0) {
    problems.push('cache.memcached.servers: must list at least one server when cache.store is "memcached"');
  }
  // Each chunk of a large entry leaves 1024 bytes of its item to memcached (chunked-entry.ts);
  // memcached itself refuses -I below 1k.
  if (c.cache.memcached.maxItemSize < 4096) {
    problems.push(`cache.memcached.maxItemSize: must be at least 4096 bytes (memcached -I), got ${c.cache.memcached.maxItemSize}`);
  }
  c.routes.forEach((r, i) => {
    const usesMogile = r.to === 'mogile' || r.fallback === 'mogile';
    const usesStatic = r.to === 'static' || r.fallback === 'static';
    if (usesMogile && c.mogile.trackers.length === 0) problems.push(`routes[${i}]: going to mogile needs mogile.trackers`);
    if (usesMogile && c.mogile.domain === '') problems.push(`routes[${i}]: going to mogile needs mogile.domain`);
    if (usesStatic && c.static.servers.length === 0) problems.push(`routes[${i}]: going to static needs static.servers`);
  });
  return problems;
}
