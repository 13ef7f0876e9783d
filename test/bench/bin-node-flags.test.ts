// The bench and the test launcher start dist/src/cli.js with their own node, and take the
// node flags from the bin's shebang so memfront runs as the installed bin runs.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { binNodeFlags, nodeFlagsOfShebang } from '../../bench/lib/bin-node-flags.js';

describe('nodeFlagsOfShebang', () => {
  it('reads the flags after node in an env -S line', () => {
    assert.deepEqual(nodeFlagsOfShebang('#!/usr/bin/env -S node --max-semi-space-size=8 --no-warnings\n'), ['--max-semi-space-size=8', '--no-warnings']);
  });

  it('reads none from a plain env line, or from node named by its path', () => {
    assert.deepEqual(nodeFlagsOfShebang('#!/usr/bin/env node'), []);
    assert.deepEqual(nodeFlagsOfShebang('#!/usr/local/bin/node --expose-gc'), ['--expose-gc']);
  });

  it('refuses a line that is not a node shebang', () => {
    assert.throws(() => nodeFlagsOfShebang('// a comment'), /not a shebang/);
    assert.throws(() => nodeFlagsOfShebang('#!/bin/sh -e'), /not a node shebang/);
    assert.throws(() => nodeFlagsOfShebang('#!/usr/bin/env -S python3 -u'), /not a node shebang/);
  });
});

describe('the built bin', () => {
  it('starts node with the young generation capped at 8 MB semi-spaces', () => {
    const cli = fileURLToPath(new URL('../../src/cli.js', import.meta.url));
    assert.deepEqual(binNodeFlags(cli), ['--max-semi-space-size=8']);
  });
});
