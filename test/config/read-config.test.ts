// readConfig: the source of every value (for `memfront config`) and the warnings for what is
// valid but probably unintended.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { configDocs, readConfig } from '../../src/config/load.js';
import { formatEffectiveConfig } from '../../src/config/show-config.js';

const dir = mkdtempSync(join(tmpdir(), 'memfront-read-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'config.json');
writeFileSync(file, JSON.stringify({ listen: { port: 80 }, cache: { defaultTtl: 60, maxTtl: 600 }, log: { level: 'warn' } }));

test('each key names the last source that set it: arg > env > file > default', () => {
  const { sources, config } = readConfig({
    file,
    env: { MEMFRONT_LOG_LEVEL: 'debug', MEMFRONT_CACHE_MAX_TTL: '900' },
    args: ['--log.level=error'],
  });
  assert.deepEqual(sources.get('listen.port'), { kind: 'file', file });
  assert.deepEqual(sources.get('cache.maxTtl'), { kind: 'env', name: 'MEMFRONT_CACHE_MAX_TTL' });
  assert.deepEqual(sources.get('log.level'), { kind: 'arg', flag: '--log.level' });
  assert.deepEqual(sources.get('listen.host'), { kind: 'default' });
  assert.deepEqual([...sources.keys()], configDocs().map((d) => d.key), 'every key, in schema order');
  assert.equal(config.log.level, 'error');
});

test('memfront config prints key = JSON value  # source, one line per key', () => {
  const { sources, config } = readConfig({ file, env: { MEMFRONT_CACHE_MAX_TTL: '900' }, args: ['--log.level=error'] });
  const lines = formatEffectiveConfig(config, sources).trimEnd().split('\n');
  assert.equal(lines.length, configDocs().length);
  const line = (key: string) => lines.find((l) => l.startsWith(`${key} `))?.replace(/ +/g, ' ');
  assert.equal(line('listen.port'), `listen.port = 80 # file ${file}`);
  assert.equal(line('listen.host'), 'listen.host = "0.0.0.0" # default');
  assert.equal(line('cache.maxTtl'), 'cache.maxTtl = 900 # env MEMFRONT_CACHE_MAX_TTL');
  assert.equal(line('log.level'), 'log.level = "error" # arg --log.level');
  assert.equal(line('cache.statuses'), 'cache.statuses = [200,203,300,301,308,404,410] # default');
});

test('a MEMFRONT_* variable that names no key is warned about, with the near miss', () => {
  const { warnings } = readConfig({ env: { MEMFRONT_CACHE_DEFUALT_TTL: '60', MEMFRONT_NOPE: '1', MEMFRONT_LISTEN_PORT: '81', HOME: '/root' } });
  assert.deepEqual(warnings, [
    'environment variable MEMFRONT_CACHE_DEFUALT_TTL is not a memfront setting and is ignored (did you mean MEMFRONT_CACHE_DEFAULT_TTL?)',
    'environment variable MEMFRONT_NOPE is not a memfront setting and is ignored',
  ]);
});

test('defaultTtl above maxTtl, and a rule ttl above it, are warned about; equal is not', () => {
  assert.deepEqual(readConfig({ env: {}, args: ['--cache.defaultTtl=86400'] }).warnings, []);
  assert.deepEqual(readConfig({ env: {}, args: ['--cache.defaultTtl=600', '--cache.maxTtl=300'] }).warnings, [
    'cache.defaultTtl (600) is above cache.maxTtl (300): entries without freshness headers are kept 300 s',
  ]);
  const rules = JSON.stringify([{ match: '^/a', pass: true }, { match: '^/b', ttl: 301 }]);
  assert.deepEqual(readConfig({ env: {}, args: [`--cache.rules=${rules}`, '--cache.maxTtl=300'] }).warnings, [
    'cache.rules[1].ttl (301) is above cache.maxTtl (300): it is kept 300 s',
  ]);
});
