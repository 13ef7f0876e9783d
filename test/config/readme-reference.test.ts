// The README's configuration table must name every key the schema knows, with its env name.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { configDocs } from '../../src/config/load.js';

it('README documents every config key with its environment variable', () => {
  const readme = readFileSync(new URL('../../../README.md', import.meta.url), 'utf8');
  const missing = configDocs().filter((d) => !readme.includes(`| \`${d.key}\` |`) || !readme.includes(d.env));
  assert.deepEqual(missing.map((d) => d.key), [], 'regenerate with: node scripts/config-reference.mjs');
});
