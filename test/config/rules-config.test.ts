// cache.rules in the config: what CONTRACT.md "Per-URL rules" accepts, and the one-line error
// naming the rule for everything else.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

const withRules = (rules: unknown) => loadConfig({ env: { MEMFRONT_CACHE_RULES: JSON.stringify(rules) }, args: [] });

function refusal(rules: unknown): string {
  try {
    withRules(rules);
  } catch (err) {
    assert.ok(err instanceof ConfigError, String(err));
    assert.doesNotMatch(err.message, /\n/);
    return err.message;
  }
  assert.fail(`expected ${JSON.stringify(rules)} to be refused`);
}

test('pass and ttl rules load as given, in order', () => {
  const rules = [{ match: '^/wp-admin/', pass: true }, { match: '^/feed/', ttl: 60 }, { match: '^/live/', ttl: 0 }];
  assert.deepEqual(withRules(rules).cache.rules, rules);
});

test('a rule with neither pass nor ttl is refused, naming it', () => {
  assert.match(refusal([{ match: '^/a', pass: true }, { match: '^/b' }]), /^cache\.rules\[1\]: a rule needs "pass": true or "ttl"/);
});

test('a bad regex is refused, naming the rule and the regex', () => {
  assert.match(refusal([{ match: '^/(', ttl: 5 }]), /^cache\.rules\[0\]: bad regex "\^\/\(": .*\(from MEMFRONT_CACHE_RULES\)$/);
});

test('everything else that would silently do nothing or something else is refused', () => {
  assert.match(refusal([{ match: '^/a', pass: true, ttl: 5 }]), /^cache\.rules\[0\]: a rule has either "pass" or "ttl", not both/);
  assert.match(refusal([{ match: '^/a', pass: false }]), /^cache\.rules\[0\]: "pass" must be true/);
  assert.match(refusal([{ match: '^/a', ttl: -1 }]), /^cache\.rules\[0\]: "ttl" must be a whole number/);
  assert.match(refusal([{ match: '^/a', ttl: '60' }]), /^cache\.rules\[0\]: "ttl" must be a whole number/);
  assert.match(refusal([{ match: '^/a', to: 'static' }]), /^cache\.rules\[0\]: unknown field "to"/);
  assert.match(refusal([{ pass: true }]), /^cache\.rules\[0\]: "match" must be a regular expression/);
  assert.match(refusal(['^/a']), /^cache\.rules\[0\]: must be an object/);
});

test('in a file, rules that are not a list are refused, naming the key and the file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'memfront-rules-'));
  try {
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ cache: { rules: { match: '^/a', pass: true } } }));
    assert.throws(() => loadConfig({ file, env: {}, args: [] }), { message: `cache.rules: must be a list of rules like [{"match": "^/wp-admin/", "pass": true}, {"match": "^/feed/", "ttl": 60}], got {"match":"^/a","pass":true} (in ${file})` });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('in an argument, rules are JSON; text that is not is named as such', () => {
  assert.throws(() => loadConfig({ env: {}, args: ['--cache.rules=^/a'] }), /^ConfigError: cache\.rules: must be JSON/);
});
