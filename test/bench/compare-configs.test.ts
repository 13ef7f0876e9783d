// The configs the bench writes for nginx srcache+memc and Varnish: they name the ports given,
// bypass logged-in visitors, take lifetimes from the response, and honour PURGE.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mergeConfig } from '../../bench/compare/cache-server.js';
import { nginxConfig } from '../../bench/compare/nginx-srcache.js';
import { varnishVcl } from '../../bench/compare/varnish.js';

test('nginx: srcache over memc, on the given ports, cookie bypass, PURGE deletes', () => {
  const conf = nginxConfig({ prefix: '/tmp/x', port: 18080, backendPort: 18081, memcachedPort: 11999, loadModules: ['/m/a.so', '/m/b.so'] });
  for (const want of [
    'load_module /m/a.so;',
    'load_module /m/b.so;',
    'daemon off;',
    'worker_processes 1;',
    'listen 127.0.0.1:18080',
    'server 127.0.0.1:18081',
    'server 127.0.0.1:11999',
    'srcache_fetch GET /memc key=$key;',
    'srcache_store PUT /memc key=$key&exptime=$srcache_expire;',
    'wordpress_logged_in_',
    'srcache_fetch_skip $skip;',
    'set $memc_cmd delete;',
    'add_header X-Cache $srcache_fetch_status always;',
  ]) {
    assert.ok(conf.includes(want), want);
  }
  assert.equal((conf.match(/\{/g) ?? []).length, (conf.match(/\}/g) ?? []).length, 'braces balance');
});

test('Varnish: the backend port, pass for logged-in, gzip storage, grace, X-Cache', () => {
  const vcl = varnishVcl(18081);
  for (const want of ['vcl 4.1;', '.port = "18081";', 'return (purge);', 'wordpress_logged_in_', 'return (pass);', 'beresp.do_gzip = true', 'beresp.grace = 30s', '"STALE"', '"HIT"', '"MISS"', '"BYPASS"']) {
    assert.ok(vcl.includes(want), want);
  }
  assert.equal((vcl.match(/\{/g) ?? []).length, (vcl.match(/\}/g) ?? []).length, 'braces balance');
});

test('config merging: nested keys merge, arrays and scalars are replaced', () => {
  const merged = mergeConfig(
    { workers: 1, cache: { defaultTtl: 300, memcached: { servers: ['a'] } }, log: { level: 'warn' } },
    { cache: { memcached: { servers: ['b', 'c'] }, l1: { maxBytes: 0 } }, workers: 2 },
  );
  assert.deepEqual(merged, { workers: 2, cache: { defaultTtl: 300, memcached: { servers: ['b', 'c'] }, l1: { maxBytes: 0 } }, log: { level: 'warn' } });
});
