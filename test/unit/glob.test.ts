// Table tests for session-cookie / ignored-param name patterns.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileGlobs } from '../../src/policy/glob.js';

const cases: Array<{ patterns: string[]; name: string; want: boolean; why: string }> = [
  { patterns: ['PHPSESSID'], name: 'PHPSESSID', want: true, why: 'exact name' },
  { patterns: ['PHPSESSID'], name: 'phpsessid', want: false, why: 'names are case-sensitive' },
  { patterns: ['PHPSESSID'], name: 'PHPSESSID2', want: false, why: 'exact means whole name' },
  { patterns: ['wordpress_logged_in_*'], name: 'wordpress_logged_in_abc123', want: true, why: 'trailing wildcard' },
  { patterns: ['wordpress_logged_in_*'], name: 'wordpress_logged_in_', want: true, why: 'wildcard matches nothing too' },
  { patterns: ['wordpress_logged_in_*'], name: 'xwordpress_logged_in_a', want: false, why: 'anchored at the start' },
  { patterns: ['utm_*'], name: 'utm_source', want: true, why: 'query param wildcard' },
  { patterns: ['*_sess'], name: 'my_sess', want: true, why: 'leading wildcard' },
  { patterns: ['a*b*c'], name: 'aXXbYYc', want: true, why: 'several wildcards' },
  { patterns: ['a*b*c'], name: 'aXXbYYcd', want: false, why: 'anchored at the end' },
  { patterns: ['a.b'], name: 'aXb', want: false, why: 'dot is literal' },
  { patterns: ['a+(b)?[c]$'], name: 'a+(b)?[c]$', want: true, why: 'regex metacharacters are literal' },
  { patterns: ['a+(b)?[c]*'], name: 'a+(b)?[c]zz', want: true, why: 'metacharacters literal next to a wildcard' },
  { patterns: ['a/*'], name: 'a/b', want: true, why: 'slash is literal' },
  { patterns: ['*'], name: '', want: true, why: 'lone star matches everything' },
  { patterns: [], name: 'PHPSESSID', want: false, why: 'no patterns, no match' },
  { patterns: ['x*'], name: 'x\nsess', want: true, why: 'wildcard spans odd bytes' },
  { patterns: ['fbclid', 'gclid', 'utm_*'], name: 'gclid', want: true, why: 'any of several' },
  { patterns: ['fbclid', 'gclid', 'utm_*'], name: 'page', want: false, why: 'none of several' },
];

for (const c of cases) {
  test(`compileGlobs(${JSON.stringify(c.patterns)})(${JSON.stringify(c.name)}) is ${c.want}: ${c.why}`, () => {
    assert.equal(compileGlobs(c.patterns)(c.name), c.want);
  });
}
