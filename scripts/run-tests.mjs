// npm test: runs every compiled test file with node's test runner, files in parallel.
// Node 20's `--test` takes no globs, hence this list. A compiled test whose source is gone
// (renamed or deleted; tsc never cleans dist/) is left out rather than run stale.

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const distTests = path.join(root, 'dist', 'test');

function findTests(dir) {
  if (!existsSync(dir)) return [];
  const found = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) found.push(...findTests(full));
    else if (entry.isFile() && entry.name.endsWith('.test.js')) found.push(full);
  }
  return found;
}

function hasSource(compiled) {
  const relative = path.relative(path.join(root, 'dist'), compiled);
  return existsSync(path.join(root, relative.replace(/\.js$/, '.ts')));
}

const compiled = findTests(distTests).sort();
const stale = compiled.filter((file) => !hasSource(file));
for (const file of stale) console.error(`skipping ${path.relative(root, file)}: its source is gone`);
const files = compiled.filter(hasSource).map((file) => path.relative(root, file));

if (files.length === 0) {
  console.error(`no test files found under ${path.relative(root, distTests)} (run tsc first)`);
  process.exit(1);
}

const result = spawnSync(
  process.execPath,
  ['--test', `--test-concurrency=${os.availableParallelism()}`, ...files],
  { cwd: root, stdio: 'inherit' },
);
if (result.error) throw result.error;
process.exit(result.status ?? 1);
