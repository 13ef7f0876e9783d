// Tests for the fallback chain of mogile and static routes: every route/fallback pair.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fallbackChain, type FileStep } from '../../src/policy/fallback-chain.js';

const cases: Array<{ to: 'mogile' | 'static'; fallback?: FileStep; want: FileStep[] }> = [
  // Unknown key is mogile's own 404: nothing after it.
  { to: 'mogile', want: ['mogile'] },
  { to: 'mogile', fallback: 'static', want: ['mogile', 'static', 'backend'] },
  { to: 'mogile', fallback: 'backend', want: ['mogile', 'backend'] },
  // Falling back to itself would ask the same trackers twice: no loop.
  { to: 'mogile', fallback: 'mogile', want: ['mogile'] },
  // Contract: a static route sends what no static server has to the backend.
  { to: 'static', want: ['static', 'backend'] },
  { to: 'static', fallback: 'backend', want: ['static', 'backend'] },
  { to: 'static', fallback: 'static', want: ['static', 'backend'] },
  // The mogile step is the last: an unknown key is a 404, not the backend.
  { to: 'static', fallback: 'mogile', want: ['static', 'mogile'] },
];

for (const c of cases) {
  test(`fallbackChain: ${c.to}${c.fallback ? ` with fallback ${c.fallback}` : ''} → ${c.want.join(' → ')}`, () => {
    assert.deepEqual(fallbackChain(c.to, c.fallback), c.want);
  });
}
