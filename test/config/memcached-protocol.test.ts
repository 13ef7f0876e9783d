// cache.memcached.protocol: binary unless told, text from the file or the environment, and
// anything else refused with the key named.
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { it } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { ConfigError } from '../../src/errors.js';

function fileWith(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'memfront-protocol-')), 'config.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

it('cache.memcached.protocol is "binary" by default, "text" when set, and nothing else', () => {
  assert.equal(loadConfig({ args: [], env: {} }).cache.memcached.protocol, 'binary');
  assert.equal(loadConfig({ file: fileWith({ cache: { memcached: { protocol: 'text' } } }), args: [], env: {} }).cache.memcached.protocol, 'text');
  assert.equal(loadConfig({ args: [], env: { MEMFRONT_CACHE_MEMCACHED_PROTOCOL: 'text' } }).cache.memcached.protocol, 'text');
  assert.throws(
    () => loadConfig({ file: fileWith({ cache: { memcached: { protocol: 'meta' } } }), args: [], env: {} }),
    (err: unknown) => err instanceof ConfigError && /cache\.memcached\.protocol: must be one of binary, text/.test(err.message),
  );
});
