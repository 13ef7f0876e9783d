// loadConfig: the contract's defaults, precedence argument > environment > file > default,
// list parsing, and one-line errors that name the key or the file.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { configDocs, loadConfig, type LoadOptions } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const dir = mkdtempSync(join(tmpdir(), 'memfront-config-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

let files = 0;
/** A config file holding `content` (an object as JSON, or raw text). */
function fileWith(content: unknown): string {
  const file = join(dir, `config-${++files}.json`);
  writeFileSync(file, typeof content === 'string' ? content : JSON.stringify(content));
  return file;
}

/** The loader with nothing from the real environment. */
const load = (opts: LoadOptions = {}) => loadConfig({ env: {}, args: [], ...opts });

function loadError(opts: LoadOptions): ConfigError {
  try {
    load(opts);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    assert.equal(err.code, 'MF_CONFIG_INVALID');
    assert.doesNotMatch(err.message, /\n/, 'the message is one line');
    return err;
  }
  assert.fail('expected the config to be refused');
}

// CONTRACT.md "Config file", with the `example` values empty, plus log.pretty.
const CONTRACT_DEFAULTS = {
  listen: { host: '0.0.0.0', port: 8080 },
  workers: 1,
  trustedProxies: [],
  shutdownGraceMs: 10000,
  sendTimeoutMs: 60000,
  backend: { url: 'http://127.0.0.1:8081', timeoutMs: 30000 },
  cache: {
    enabled: true,
    store: 'memcached',
    memcached: { servers: ['127.0.0.1:11211'], timeoutMs: 50, keyPrefix: 'mf1:', maxItemSize: 1048576, protocol: 'binary' },
    memory: { maxBytes: 268435456 },
    l1: { maxBytes: 67108864, ttlMs: 1000 },
    defaultTtl: 300,
    maxTtl: 86400,
    compressThreshold: 2048,
    gzipLevel: 1,
    hotGzip: { level: 6, hits: 100 },
    maxObjectSize: 1048576,
    statuses: [200, 203, 300, 301, 308, 404, 410],
    honorCacheControl: true,
    sessionCookies: [
      'PHPSESSID', 'sessionid', 'JSESSIONID', 'connect.sid', 'laravel_session', '*_session', 'SESS*', 'SSESS*',
      'wordpress_logged_in_*', 'wordpress_sec_*', 'wp-postpass_*', 'comment_author_*', 'woocommerce_*', 'wp_woocommerce_session_*',
    ],
    ignoreQueryParams: ['utm_*', 'fbclid', 'gclid'],
    staleWhileRevalidate: 30,
    staleIfError: 600,
    rules: [],
    maxVariants: 8, // added with Vary (HTTP caching semantics)
    keep: 3600, // added with revalidation-only keep time
  },
  reproxy: {
    enabled: false,
    allowedHosts: [],
    preserveHeaders: ['Content-Type', 'Content-Disposition', 'Cache-Control', 'ETag', 'Last-Modified'],
    services: {},
  },
  mogile: { trackers: [], domain: '', timeoutMs: 1000, memoTtlMs: 3000 }, // memoTtlMs: added with the mogile route
  static: { servers: [], memoTtlMs: 5000 }, // memoTtlMs: added with the static route
  offload: { base: '' },
  routes: [],
  admin: { host: '127.0.0.1', port: 8079, purgeAllow: ['127.0.0.1/32', '::1/128'] },
  log: { level: 'info', pretty: false },
};

test('with nothing given, the config is the contract defaults', () => {
  assert.deepEqual(load(), CONTRACT_DEFAULTS);
});

test('an empty file object gives the defaults too', () => {
  assert.deepEqual(load({ file: fileWith({}) }), CONTRACT_DEFAULTS);
});

test('the returned config is frozen all the way down', () => {
  const config = load();
  assert.throws(() => {
    (config.listen as { port: number }).port = 1;
  }, TypeError);
  assert.throws(() => (config.cache.statuses as number[]).push(500), TypeError);
});

test('listen.port: argument > environment > file > default', () => {
  const file = fileWith({ listen: { port: 1001 } });
  const env = { MEMFRONT_LISTEN_PORT: '1002' };
  const args = ['--listen.port=1003'];
  const cases: Array<[string, LoadOptions, number]> = [
    ['default', {}, 8080],
    ['file', { file }, 1001],
    ['env over file', { file, env }, 1002],
    ['arg over env and file', { file, env, args }, 1003],
    ['arg over file', { file, args }, 1003],
    ['arg over env', { env, args }, 1003],
  ];
  for (const [name, opts, port] of cases) assert.equal(load(opts).listen.port, port, name);
});

test('a file sets only the keys it names; the rest keep their defaults', () => {
  const config = load({ file: fileWith({ cache: { memcached: { timeoutMs: 75 } } }) });
  assert.equal(config.cache.memcached.timeoutMs, 75);
  assert.deepEqual(config.cache.memcached.servers, ['127.0.0.1:11211']);
  assert.equal(config.cache.memcached.keyPrefix, 'mf1:');
});

test('env names split camelCase: MEMFRONT_ + the key path in upper snake case', () => {
  const env = new Map(configDocs().map((d) => [d.key, d.env]));
  assert.equal(env.get('backend.timeoutMs'), 'MEMFRONT_BACKEND_TIMEOUT_MS');
  assert.equal(env.get('cache.memcached.keyPrefix'), 'MEMFRONT_CACHE_MEMCACHED_KEY_PREFIX');
  assert.equal(env.get('cache.l1.maxBytes'), 'MEMFRONT_CACHE_L1_MAX_BYTES');
  assert.equal(env.get('listen.port'), 'MEMFRONT_LISTEN_PORT');
  const config = load({
    env: {
      MEMFRONT_BACKEND_TIMEOUT_MS: '5000',
      MEMFRONT_CACHE_MEMCACHED_KEY_PREFIX: 'mf2:',
      MEMFRONT_CACHE_HONOR_CACHE_CONTROL: 'false',
      MEMFRONT_LOG_LEVEL: 'debug',
    },
  });
  assert.equal(config.backend.timeoutMs, 5000);
  assert.equal(config.cache.memcached.keyPrefix, 'mf2:');
  assert.equal(config.cache.honorCacheControl, false);
  assert.equal(config.log.level, 'debug');
});

test('configDocs lists every key of the loaded config, each with a doc and its default', () => {
  const docs = configDocs();
  const leaves = (o: Record<string, unknown>, prefix = ''): string[] =>
    Object.entries(o).flatMap(([k, v]) =>
      typeof v === 'object' && v !== null && !Array.isArray(v) && k !== 'services'
        ? leaves(v as Record<string, unknown>, `${prefix}${k}.`)
        : [`${prefix}${k}`],
    );
  assert.deepEqual(docs.map((d) => d.key).sort(), leaves(CONTRACT_DEFAULTS).sort());
  const config = load() as unknown as Record<string, unknown>;
  for (const d of docs) {
    assert.ok(d.doc.length > 10, `${d.key} has a doc`);
    const value = d.key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], config);
    assert.deepEqual(value, d.default, `${d.key} default`);
  }
});

test('lists are comma-separated in env and arguments; statuses become numbers', () => {
  const config = load({
    env: { MEMFRONT_CACHE_MEMCACHED_SERVERS: '10.0.0.1:11211, 10.0.0.2:11212', MEMFRONT_CACHE_STATUSES: '200,404' },
    args: ['--cache.sessionCookies=sid,auth_*', '--trustedProxies', '10.0.0.0/8,::1/128'],
  });
  assert.deepEqual(config.cache.memcached.servers, ['10.0.0.1:11211', '10.0.0.2:11212']);
  assert.deepEqual(config.cache.statuses, [200, 404]);
  assert.deepEqual(config.cache.sessionCookies, ['sid', 'auth_*']);
  assert.deepEqual(config.trustedProxies, ['10.0.0.0/8', '::1/128']);
  assert.deepEqual(load({ args: ['--cache.statuses=200,301,410'] }).cache.statuses, [200, 301, 410]);
  assert.deepEqual(load({ env: { MEMFRONT_TRUSTED_PROXIES: '' } }).trustedProxies, []);
});

test('argument forms: --key=value, --key value, and a boolean key alone', () => {
  const config = load({ args: ['--backend.url', 'http://10.1.2.3:9000', '--log.pretty', '--cache.enabled=false', '--workers=4'] });
  assert.equal(config.backend.url, 'http://10.1.2.3:9000');
  assert.equal(config.log.pretty, true);
  assert.equal(config.cache.enabled, false);
  assert.equal(config.workers, 4);
  // A string that looks like a number stays a string.
  assert.equal(load({ args: ['--cache.memcached.keyPrefix=007'] }).cache.memcached.keyPrefix, '007');
});

test('routes and reproxy.services take JSON in env and arguments', () => {
  const config = load({
    env: { MEMFRONT_ROUTES: '[{"match":"^/assets/","to":"static"}]', MEMFRONT_STATIC_SERVERS: 'http://127.0.0.1:8090' },
    args: ['--reproxy.services={"images":["http://127.0.0.1:8090"]}'],
  });
  assert.deepEqual(config.routes, [{ match: '^/assets/', to: 'static' }]);
  assert.deepEqual(config.reproxy.services, { images: ['http://127.0.0.1:8090'] });
});

test('valid routes are kept; an offload route without minSize gets the contract default', () => {
  const routes = [
    { match: '^/media/(.*)$', to: 'mogile', key: '$1' },
    { match: '^/assets/', to: 'static', fallback: 'backend' },
    { match: '^/dl/(.*)$', to: 'reproxy', url: 'http://127.0.0.1:8090/files/$1' },
    { match: '^/files/', to: 'offload', servers: ['http://127.0.0.1:9001'] },
    { match: '^/admin', to: 'backend' },
  ];
  const config = load({
    file: fileWith({ routes, mogile: { trackers: ['127.0.0.1:7001'], domain: 'www' }, static: { servers: ['http://127.0.0.1:8090'] } }),
  });
  assert.deepEqual(config.routes, [...routes.slice(0, 3), { ...routes[3], minSize: 1048576 }, routes[4]]);
});

test('conf/example.json is a valid config with the example routes', () => {
  const file = fileURLToPath(new URL('../../../conf/example.json', import.meta.url));
  const config = load({ file });
  assert.equal(config.routes.length, 4);
  assert.deepEqual(config.mogile.trackers, ['127.0.0.1:7001']);
  assert.deepEqual(config.reproxy.services, { images: ['http://127.0.0.1:8090', 'http://127.0.0.1:8091'] });
});

test('bad routes are refused, naming the route', () => {
  const backing = { mogile: { trackers: ['127.0.0.1:7001'], domain: 'www' }, static: { servers: ['http://127.0.0.1:8090'] } };
  const ok = { match: '^/a', to: 'backend' };
  const cases: Array<[string, unknown, RegExp]> = [
    ['bad regex', { match: '^/(', to: 'backend' }, /^routes\[1\]: bad regex "\^\/\(": .*Unterminated group/],
    ['unknown target', { match: '^/x', to: 'ftp' }, /^routes\[1\]: "to" must be one of backend, reproxy, mogile, static, offload, got "ftp"/],
    ['unknown field', { match: '^/x', to: 'backend', ttl: 5 }, /^routes\[1\]: unknown field "ttl"/],
    ['no match', { to: 'backend' }, /^routes\[1\]: "match" must be a regular expression string/],
    ['reproxy without url', { match: '^/x', to: 'reproxy' }, /^routes\[1\]: a reproxy route needs "url"/],
    ['reproxy url not http', { match: '^/x', to: 'reproxy', url: 'file:///etc/passwd' }, /^routes\[1\]: "url" must be an http/],
    ['mogile without key', { match: '^/x', to: 'mogile' }, /^routes\[1\]: a mogile route needs "key"/],
    ['offload without servers', { match: '^/x', to: 'offload' }, /^routes\[1\]: an offload route needs a non-empty "servers" list/],
    ['offload with empty servers', { match: '^/x', to: 'offload', servers: [] }, /^routes\[1\]: an offload route needs/],
    ['offload bad minSize', { match: '^/x', to: 'offload', servers: ['http://a:1'], minSize: -1 }, /^routes\[1\]: "minSize" must be/],
    ['bad fallback', { match: '^/x', to: 'static', fallback: 'reproxy' }, /^routes\[1\]: "fallback" must be one of static, mogile, backend/],
    ['not an object', 'backend', /^routes\[1\]: must be an object/],
  ];
  for (const [name, route, expected] of cases) {
    const file = fileWith({ ...backing, routes: [ok, route] });
    const err = loadError({ file });
    assert.match(err.message, expected, name);
    assert.ok(err.message.endsWith(`(in ${file})`), `${name}: names the file: ${err.message}`);
  }
});

test('routes that need servers nobody configured are refused', () => {
  assert.match(
    loadError({ file: fileWith({ routes: [{ match: '^/m/(.*)', to: 'mogile', key: '$1' }] }) }).message,
    /^routes\[0\]: going to mogile needs mogile.trackers; routes\[0\]: going to mogile needs mogile.domain$/,
  );
  assert.match(loadError({ args: ['--routes=[{"match":"^/s/","to":"static"}]'] }).message, /^routes\[0\]: going to static needs static.servers$/);
  assert.match(
    loadError({ args: ['--cache.memcached.servers='] }).message,
    /^cache.memcached.servers: must list at least one server when cache.store is "memcached"$/,
  );
  assert.deepEqual(load({ args: ['--cache.memcached.servers=', '--cache.store=memory'] }).cache.memcached.servers, []);
});

test('problems with the file name the file', () => {
  const missing = join(dir, 'nowhere', 'memfront.json');
  assert.equal(loadError({ file: missing }).message, `cannot read config file ${missing}: ENOENT`);
  assert.equal(loadError({ file: dir }).message, `cannot read config file ${dir}: EISDIR`);
  const broken = fileWith('{\n  "listen": { "port": 80 },\n  oops\n}');
  assert.match(loadError({ file: broken }).message, new RegExp(`^cannot parse ${broken}: .* \\(line 3 column 3\\)$`));
  const list = fileWith('[1, 2]');
  assert.match(loadError({ file: list }).message, new RegExp(`^cannot use ${list}: it must hold a JSON object`));
});

test('unknown keys are refused, naming the key and where it came from', () => {
  const file = fileWith({ cache: { foo: 1 } });
  assert.equal(loadError({ file }).message, `unknown config key "cache.foo" in ${file}`);
  const top = fileWith({ listen: { port: 1 }, colour: 'blue' });
  assert.equal(loadError({ file: top }).message, `unknown config key "colour" in ${top}`);
  const proto = fileWith('{"__proto__": {"x": 1}}');
  assert.equal(loadError({ file: proto }).message, `unknown config key "__proto__" in ${proto}`);
  assert.match(loadError({ args: ['--cache.foo=1'] }).message, /^unknown config key "cache.foo" \(from --cache.foo/);
  assert.match(loadError({ args: ['--verbose'] }).message, /^unknown config key "verbose"/);
  assert.match(loadError({ args: ['stray'] }).message, /^unexpected argument "stray"/);
});

test('wrong types are refused, naming the key, the value and its source', () => {
  const cases: Array<[string, LoadOptions, RegExp]> = [
    ['number as text in a file', { file: fileWith({ cache: { defaultTtl: 'abc' } }) }, /^cache.defaultTtl: must be a whole number >= 0, got "abc" \(in .*\.json\)$/],
    ['JSON string for a port', { file: fileWith({ listen: { port: '8080' } }) }, /^listen.port: must be a port number \(0-65535\), got "8080" \(in /],
    ['object where a section is', { file: fileWith({ cache: 5 }) }, /^cache: must be an object with keys enabled, store, /],
    ['negative ttl in env', { env: { MEMFRONT_CACHE_DEFAULT_TTL: '-5' } }, /^cache.defaultTtl: must be a whole number >= 0, got -5 \(from MEMFRONT_CACHE_DEFAULT_TTL\)$/],
    ['port out of range', { args: ['--listen.port=70000'] }, /^listen.port: must be a port number \(0-65535\), got 70000 \(from --listen.port\)$/],
    ['boolean', { env: { MEMFRONT_CACHE_ENABLED: 'maybe' } }, /^cache.enabled: must be true or false, got "maybe"/],
    ['store', { args: ['--cache.store=redis'] }, /^cache.store: must be one of memcached, memory, got "redis"/],
    ['log level', { args: ['--log.level=loud'] }, /^log.level: must be one of fatal, error, warn, info, debug, trace, silent/],
    ['backend url', { args: ['--backend.url=ftp://x'] }, /^backend.url: must be an http:\/\/ or https:\/\/ URL, got "ftp:\/\/x"/],
    ['offload base', { args: ['--offload.base=nope'] }, /^offload.base: must be "" or an http/],
    ['status code', { args: ['--cache.statuses=200,abc'] }, /^cache.statuses: "abc" is not an HTTP status code/],
    ['status out of range', { file: fileWith({ cache: { statuses: [200, 99] } }) }, /^cache.statuses: 99 is not an HTTP status code/],
    ['CIDR', { args: ['--admin.purgeAllow=127.0.0.1'] }, /^admin.purgeAllow: "127.0.0.1" is not a CIDR/],
    ['CIDR prefix', { args: ['--trustedProxies=10.0.0.0/33'] }, /^trustedProxies: "10.0.0.0\/33" is not a CIDR/],
    ['host:port', { args: ['--mogile.trackers=tracker'] }, /^mogile.trackers: "tracker" is not host:port/],
    ['static URL', { args: ['--static.servers=127.0.0.1:8090'] }, /^static.servers: "127.0.0.1:8090" is not an http/],
    ['key prefix', { args: ['--cache.memcached.keyPrefix=a b'] }, /^cache.memcached.keyPrefix: must be at most 64 characters/],
    ['services', { file: fileWith({ reproxy: { services: { images: ['http://a:1', 5] } } }) }, /^reproxy.services.images: must be a non-empty list of http\(s\) URLs, got \["http:\/\/a:1",5\] \(in /],
    ['services not JSON', { env: { MEMFRONT_REPROXY_SERVICES: 'images=http://a' } }, /^reproxy.services: must be JSON/],
    ['routes not JSON', { env: { MEMFRONT_ROUTES: '^/a=static' } }, /^routes: must be JSON/],
    ['gzip level', { env: { MEMFRONT_CACHE_GZIP_LEVEL: '0' } }, /^cache.gzipLevel: must be a gzip level from 1 \(fastest\) to 9 \(smallest\), got 0 \(from MEMFRONT_CACHE_GZIP_LEVEL\)$/],
    ['hot gzip level', { env: { MEMFRONT_CACHE_HOT_GZIP_LEVEL: '10' } }, /^cache.hotGzip.level: must be a gzip level from 1 \(fastest\) to 9 \(smallest\), or 0 for off, got 10 \(from MEMFRONT_CACHE_HOT_GZIP_LEVEL\)$/],
    ['hot gzip hits', { args: ['--cache.hotGzip.hits=0'] }, /^cache.hotGzip.hits: /],
    ['missing value', { args: ['--listen.port'] }, /^listen.port: --listen.port needs a value$/],
  ];
  for (const [name, opts, expected] of cases) assert.match(loadError(opts).message, expected, name);
});

test('several problems are reported together on one line', () => {
  const message = loadError({ args: ['--listen.port=x', '--workers=-1'] }).message;
  assert.match(message, /(^|; )listen.port: must be a port number/);
  assert.match(message, /(^|; )workers: must be a whole number >= 0, got -1/);
});
