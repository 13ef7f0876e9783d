// The memfront command's introspection as an operator runs it: --version, memfront config,
// check --offline, and the warnings on stderr.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const CLI = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8'));
const dir = mkdtempSync(join(tmpdir(), 'memfront-cmd-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

/** The command with only `env`'s MEMFRONT_ settings. */
function memfront(args: string[], env: Record<string, string> = {}) {
  const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('MEMFRONT_')));
  const r = spawnSync(process.execPath, [CLI, ...args], { env: { ...base, ...env }, encoding: 'utf8', timeout: 20_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('--version prints the package version and exits 0', () => {
  assert.deepEqual(memfront(['--version']), { code: 0, stdout: `memfront ${pkg.version}\n`, stderr: '' });
});

test('memfront config prints every value with its source, warnings on stderr', () => {
  const file = join(dir, 'c.json');
  writeFileSync(file, JSON.stringify({ cache: { defaultTtl: 7200, maxTtl: 3600 } }));
  const r = memfront(['config', '--config', file, '--listen.port=81'], { MEMFRONT_LOG_LEVEL: 'warn', MEMFRONT_LOG_LEVLE: 'x' });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^listen\.port +=  ?81 +# arg --listen\.port$/m);
  assert.match(r.stdout, /^cache\.defaultTtl += 7200 +# file .*c\.json$/m);
  assert.match(r.stdout, /^log\.level += "warn" +# env MEMFRONT_LOG_LEVEL$/m);
  assert.match(r.stdout, /^workers += 1 +# default$/m);
  assert.deepEqual(r.stderr.trimEnd().split('\n'), [
    'memfront: warning: environment variable MEMFRONT_LOG_LEVLE is not a memfront setting and is ignored (did you mean MEMFRONT_LOG_LEVEL?)',
    'memfront: warning: cache.defaultTtl (7200) is above cache.maxTtl (3600): entries without freshness headers are kept 3600 s',
  ]);
});

test('check --offline validates and lists the servers without contacting any', () => {
  // Addresses that cannot answer: a check that contacted them would fail.
  const r = memfront(['check', '--offline', '--cache.memcached.servers=192.0.2.1:11211', '--backend.url=http://192.0.2.2:8081']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^config: valid\n/);
  assert.match(r.stdout, /^memcached +192\.0\.2\.1:11211$/m);
  assert.match(r.stdout, /^backend +http:\/\/192\.0\.2\.2:8081\/$/m);
  assert.doesNotMatch(r.stdout, /FAIL|ok /);
});

test('check --offline still refuses a bad config: exit 2, one line naming the rule', () => {
  const file = join(dir, 'bad.json');
  writeFileSync(file, JSON.stringify({ cache: { rules: [{ match: '^/wp-admin/', pass: true }, { match: '^/feed/' }] } }));
  const r = memfront(['check', '--offline', '--config', file]);
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, `memfront: cache.rules[1]: a rule needs "pass": true or "ttl": seconds (in ${file})\n`);
});
