// cache.rules as the engine will ask them: first match wins, on the path and the query, the
// ttl capped at cache.maxTtl, no rule = undefined.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { compileUrlRules, withRuleTtl } from '../../src/policy/url-rules.js';

describe('compileUrlRules', () => {
  const ruleFor = compileUrlRules(
    [
      { match: '^/wp-admin/', pass: true },
      { match: '[?&]preview=true', pass: true },
      { match: '^/feed/', ttl: 60 },
      { match: '^/feed/special', pass: true }, // shadowed by the rule above
      { match: '^/archive/', ttl: 999999 },
      { match: '^/live/', ttl: 0 },
    ],
    86400,
  );

  it('a pass rule says pass and nothing else', () => {
    assert.deepEqual(ruleFor('/wp-admin/post.php?post=1'), { pass: true });
  });

  it('matches the query too, not only the path', () => {
    assert.deepEqual(ruleFor('/2024/05/hello/?preview=true'), { pass: true });
    assert.deepEqual(ruleFor('/?p=12&preview=true'), { pass: true });
    assert.equal(ruleFor('/2024/05/hello/?preview=false'), undefined);
  });

  it('the first rule that fits wins, in the order given', () => {
    assert.deepEqual(ruleFor('/feed/special'), { ttl: 60 });
  });

  it('a ttl above maxTtl is capped; 0 stays 0 (not stored)', () => {
    assert.deepEqual(ruleFor('/archive/2019/'), { ttl: 86400 });
    assert.deepEqual(ruleFor('/live/scores'), { ttl: 0 });
  });

  it('a path no rule fits gets undefined', () => {
    assert.equal(ruleFor('/'), undefined);
    assert.equal(ruleFor('/blog/wp-admin/'), undefined, '^ anchors at the start of the path');
  });

  it('no rules: undefined for everything', () => {
    assert.equal(compileUrlRules([], 86400)('/wp-admin/'), undefined);
  });

  it('answers are not shared mutable state', () => {
    const verdict = ruleFor('/feed/')!;
    assert.throws(() => {
      (verdict as { ttl: number }).ttl = 5;
    }, TypeError);
    assert.deepEqual(ruleFor('/feed/'), { ttl: 60 });
  });
});

describe('withRuleTtl: a ttl rule against the store decision', () => {
  it('no rule: the decision as it was', () => {
    assert.deepEqual(withRuleTtl({ store: true, ttl: 30 }, undefined), { store: true, ttl: 30 });
    assert.deepEqual(withRuleTtl({ store: false, reason: 'zero-ttl' }, undefined), { store: false, reason: 'zero-ttl' });
  });
  it('the rule\'s lifetime replaces the headers\', also where they gave none, said no-cache, or came already stale', () => {
    assert.deepEqual(withRuleTtl({ store: true, ttl: 30 }, 600), { store: true, ttl: 600 });
    for (const reason of ['zero-ttl', 'no-cache', 'already-stale'] as const) {
      assert.deepEqual(withRuleTtl({ store: false, reason }, 600), { store: true, ttl: 600 }, reason);
    }
  });
  it('Set-Cookie, private, no-store and every other refusal stand', () => {
    for (const reason of ['set-cookie', 'private', 'no-store', 'status', 'vary', 'too-large', 'encoding'] as const) {
      assert.deepEqual(withRuleTtl({ store: false, reason }, 600), { store: false, reason }, reason);
    }
  });
  it('ttl 0: not stored (detail=rule)', () => {
    assert.deepEqual(withRuleTtl({ store: true, ttl: 30 }, 0), { store: false, reason: 'rule' });
    assert.deepEqual(withRuleTtl({ store: false, reason: 'zero-ttl' }, 0), { store: false, reason: 'rule' });
  });
});
