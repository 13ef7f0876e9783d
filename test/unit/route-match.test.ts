// Tests for route matching: order, the default, `$n` substitution, and start-up checks.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { compileRoutes, decideRoute, substitute } from '../../src/policy/route-match.js';
import type { RouteConfig } from '../../src/config/types.js';
import { ConfigError } from '../../src/errors.js';

const routes = compileRoutes([
  { match: '^/media/(.*)$', to: 'mogile', key: '$1' },
  { match: '^/assets/', to: 'static' },
  { match: '^/dl/([^/?]+)(?:\\?v=(\\d+))?$', to: 'reproxy', url: 'http://127.0.0.1:8090/files/$1?rev=$2' },
  { match: '^/assets/special', to: 'reproxy', url: 'http://never.example/' },
  { match: 'download=1', to: 'reproxy', url: 'http://$1.example/' },
]);

const cases: Array<{ url: string; to: string; index?: number; groups?: string[] }> = [
  { url: '/', to: 'backend' },
  { url: '/about?x=1', to: 'backend' },
  { url: '/media/a%20b/c.jpg', to: 'mogile', index: 0, groups: ['/media/a%20b/c.jpg', 'a%20b/c.jpg'] },
  // The first match wins: routes[3] is never reached for these.
  { url: '/assets/special.css', to: 'static', index: 1 },
  { url: '/dl/report.pdf', to: 'reproxy', index: 2, groups: ['/dl/report.pdf', 'report.pdf', ''] },
  { url: '/dl/report.pdf?v=7', to: 'reproxy', index: 2, groups: ['/dl/report.pdf?v=7', 'report.pdf', '7'] },
  // The match sees the query too.
  { url: '/page?download=1', to: 'reproxy', index: 4 },
  // Anchored: a prefix elsewhere does not match.
  { url: '/x/media/a.jpg', to: 'backend' },
];

for (const c of cases) {
  test(`decideRoute: ${c.url} → ${c.to}${c.index !== undefined ? ` (routes[${c.index}])` : ''}`, () => {
    const d = decideRoute(routes, c.url);
    assert.equal(d.to, c.to);
    assert.equal(d.route?.index, c.index);
    if (c.groups) assert.deepEqual(d.groups, c.groups);
  });
}

const templates: Array<{ template: string; groups: string[]; want: string }> = [
  { template: 'http://h/files/$1', groups: ['/dl/a', 'a'], want: 'http://h/files/a' },
  { template: '$2-$1', groups: ['x', 'a', 'b'], want: 'b-a' },
  { template: '$0', groups: ['/whole'], want: '/whole' },
  { template: 'k/${1}0', groups: ['', 'a'], want: 'k/a0' },
  { template: 'k/$10', groups: ['', 'a'], want: 'k/' },
  { template: 'cost $$5 for $1', groups: ['', 'it'], want: 'cost $5 for it' },
  { template: 'missing $3 group', groups: ['', 'a'], want: 'missing  group' },
  { template: 'no groups here', groups: [], want: 'no groups here' },
  { template: 'raw $1', groups: ['', 'a%20b%2Fc'], want: 'raw a%20b%2Fc' },
];
for (const t of templates) {
  test(`substitute: ${JSON.stringify(t.template)} → ${JSON.stringify(t.want)}`, () => {
    assert.equal(substitute(t.template, t.groups), t.want);
  });
}

test('a group that did not take part is empty, not "undefined"', () => {
  const d = decideRoute(compileRoutes([{ match: '^/(a)|(b)$', to: 'backend' }]), '/a');
  assert.deepEqual(d.groups, ['/a', 'a', '']);
});

test('reproxy routes: origins written literally are trusted, ones built from the match are not', () => {
  const r = compileRoutes([
    { match: '^/a', to: 'reproxy', url: 'http://127.0.0.1:8090/files/$1 https://Files.Example:8443/x/$1' },
    { match: '^/b', to: 'reproxy', url: 'http://$1:8090/files/' },
    { match: '^/c', to: 'reproxy', url: 'http://127.0.0.1:8090$1' },
    { match: '^/d', to: 'reproxy', url: 'http://user@127.0.0.1:8090/' },
    { match: '^/e', to: 'static' },
  ]);
  assert.deepEqual([...r[0].fixedOrigins], ['http://127.0.0.1:8090', 'https://files.example:8443']);
  assert.deepEqual([...r[1].fixedOrigins], []);
  // `$1` right after the port could add `@evil` to the authority.
  assert.deepEqual([...r[2].fixedOrigins], []);
  assert.deepEqual([...r[3].fixedOrigins], []);
  assert.deepEqual([...r[4].fixedOrigins], []);
});

for (const [why, route, needle] of [
  ['a bad regex', { match: '^/(unclosed', to: 'backend' }, 'routes[1]: bad regex'],
  ['a reproxy route without url', { match: '^/x', to: 'reproxy' }, 'routes[1]: a reproxy route needs "url"'],
] as Array<[string, RouteConfig, string]>) {
  test(`compileRoutes: ${why} is a ConfigError naming the route`, () => {
    assert.throws(
      () => compileRoutes([{ match: '^/ok', to: 'backend' }, route]),
      (err: unknown) => err instanceof ConfigError && err.message.startsWith(needle),
    );
  });
}
