// Tags on responses and what a PURGE asks for (Surrogate-Key, Cache-Tag, the WordPress
// "Proxy Cache Purge" plugin's X-Purge-Method): table-driven.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { colocatedCopy, counterCopies, COUNTER_COPIES, decidePurge, generationKeys, hostCounterKey, MAX_TAGS, parseCacheTag, parseSurrogateKey, tagCounterKeys, tagsOf, type PurgeDecision } from '../../src/policy/tags.js';
import { HashRing } from '../../src/store/ring.js';
import { CounterPlacement } from '../../src/engine/tags.js';
import type { Headers } from '../../src/policy/headers.js';

describe('tags of a response', () => {
  for (const [name, headers, want] of [
    ['Surrogate-Key is space-separated', { 'surrogate-key': 'post-42  home\tfeed' }, ['post-42', 'home', 'feed']],
    ['Cache-Tag is comma-separated, spaces around trimmed', { 'cache-tag': ' post-42 , home,,feed ' }, ['post-42', 'home', 'feed']],
    ['both together, each tag once', { 'surrogate-key': 'a b', 'cache-tag': 'b,c' }, ['a', 'b', 'c']],
    ['repeated header lines', { 'surrogate-key': ['a', 'b'] }, ['a', 'b']],
    ['none', {}, []],
  ] as const) {
    it(name, () => assert.deepEqual(tagsOf(headers as Headers), want));
  }

  it('bounds how many tags one response records', () => {
    const many = Array.from({ length: 200 }, (_, i) => `t${i}`).join(' ');
    assert.equal(tagsOf({ 'surrogate-key': many }).length, MAX_TAGS);
    assert.deepEqual(tagsOf({ 'surrogate-key': `${'x'.repeat(300)} ok` }), ['ok']);
  });

  it('parsers agree with the conventions', () => {
    assert.deepEqual(parseSurrogateKey('a b'), ['a', 'b']);
    assert.deepEqual(parseCacheTag('a b,c'), ['a b', 'c']);
  });
});

describe('generation counter keys', () => {
  it('one per Host and per tag of that Host; the Host counter first', () => {
    const keys = generationKeys('mf1:', 'Site.Test', ['a', 'b']);
    assert.equal(keys.length, 3);
    assert.equal(keys[0], hostCounterKey('mf1:', 'site.test'));
    assert.deepEqual(keys.slice(1), tagCounterKeys('mf1:', 'site.test:80', ['a', 'b']));
    assert.notEqual(tagCounterKeys('mf1:', 'other.test', ['a'])[0], keys[1]);
    assert.notEqual(tagCounterKeys('mf2:', 'site.test', ['a'])[0], keys[1]);
    // A tag called like the Host counter is still not the Host counter (tags are trimmed).
    assert.notEqual(tagCounterKeys('mf1:', 'site.test', ['host'])[0], keys[0]);
  });
});

describe('counter copies', () => {
  const servers = ['10.0.0.1:11211', '10.0.0.2:11211', '10.0.0.3:11211'];
  const ring = new HashRing(servers);
  const owner = (k: string) => ring.get(k);

  it('a purge moves every copy', () => {
    const copies = counterCopies('mf1:t1:x');
    assert.equal(copies.length, COUNTER_COPIES);
    assert.equal(new Set(copies).size, COUNTER_COPIES);
  });

  it('an entry records the copy on its own server', () => {
    for (const home of servers) {
      const copy = colocatedCopy('mf1:t1:x', home, owner);
      assert.equal(owner(copy), home);
      assert.ok(counterCopies('mf1:t1:x').includes(copy), 'one of those a purge moves');
    }
  });

  it('with no ring, or a server no copy reaches, the first copy', () => {
    assert.equal(colocatedCopy('k', undefined, owner), 'k:0');
    assert.equal(colocatedCopy('k', '10.9.9.9:11211', owner), 'k:0');
  });

  it('CounterPlacement: the copies an entry records live where the entry does', () => {
    const placement = new CounterPlacement(servers);
    for (let i = 0; i < 30; i++) {
      const entryKey = `mf1:p1:entry-${i}`;
      for (const copy of placement.forEntry(entryKey, generationKeys('mf1:', 'site.test', ['a', 'b']))) assert.equal(owner(copy), owner(entryKey));
    }
    assert.deepEqual(new CounterPlacement(['one:11211']).forEntry('e', ['k']), ['k:0']);
    assert.deepEqual(new CounterPlacement(undefined).forEntry('e', ['k']), ['k:0']);
  });
});

describe('decidePurge', () => {
  const purge = (url: string, headers: Headers = {}) => decidePurge({ url, headers });
  for (const [name, url, headers, want] of [
    ['a plain PURGE is the path', '/a?b=1', {}, { kind: 'path' }],
    ['X-Purge-Method: default is the path', '/a', { 'x-purge-method': 'default' }, { kind: 'path' }],
    ['X-Purge-Method: exact is the path', '/a', { 'x-purge-method': 'Exact' }, { kind: 'path' }],
    ['Surrogate-Key names tags', '/whatever', { 'surrogate-key': 'post-1 home' }, { kind: 'tags', tags: ['post-1', 'home'] }],
    ['Cache-Tag names tags', '/', { 'cache-tag': 'post-1, home' }, { kind: 'tags', tags: ['post-1', 'home'] }],
    ['both, each tag once', '/', { 'surrogate-key': 'a b', 'cache-tag': 'b' }, { kind: 'tags', tags: ['a', 'b'] }],
    ['an empty tag header is refused', '/', { 'surrogate-key': '  ' }, { kind: 'refused', reason: 'empty tag header' }],
    ['the plugin purge-all: PURGE /.* regex', '/.*', { 'x-purge-method': 'regex' }, { kind: 'host', why: 'regex' }],
    ['a subdirectory site: /blog/.* is honoured by the whole Host', '/blog/.*', { 'x-purge-method': 'regex' }, { kind: 'host', why: 'regex' }],
    ['an anchored path regex', '^/blog/.*$', { 'x-purge-method': 'regex' }, { kind: 'host', why: 'regex' }],
    ['ban-regex with X-Ban-Regex .*', '/', { 'x-purge-method': 'ban-regex', 'x-ban-regex': '.*' }, { kind: 'host', why: 'ban-regex' }],
    ['ban-regex without X-Ban-Regex means .*', '/', { 'x-purge-method': 'ban-regex' }, { kind: 'host', why: 'ban-regex' }],
    ['ban-regex with a path regex', '/', { 'x-purge-method': 'ban-regex', 'x-ban-regex': '/wp-content/.*' }, { kind: 'host', why: 'ban-regex' }],
  ] as const) {
    it(name, () => assert.deepEqual(purge(url, headers as Headers), want as PurgeDecision));
  }

  for (const [name, url, headers] of [
    ['a regex that is not over paths', '/', { 'x-purge-method': 'ban-regex', 'x-ban-regex': '\\.css$' }],
    ['a regex that does not compile', '/(', { 'x-purge-method': 'regex' }],
    ['an unknown method', '/', { 'x-purge-method': 'soft' }],
  ] as const) {
    it(`refused (400, nothing invalidated): ${name}`, () => assert.equal(purge(url, headers as Headers).kind, 'refused'));
  }
});
