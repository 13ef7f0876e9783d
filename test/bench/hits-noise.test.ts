// Disturbed runs: noise is the larger share of the server's or wrk's core other processes
// took; a run over the limit is repeated while attempts remain, and the least disturbed is kept.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { leastNoisy, runNoise, shouldRetry } from '../../bench/lib/hit-noise.js';

test('noise is the worse of the two cores, unknown when neither is known', () => {
  const cases: Array<[{ serverCoreOthers?: number; wrkCoreOthers?: number }, number | undefined]> = [
    [{ serverCoreOthers: 0.02, wrkCoreOthers: 0.3 }, 0.3],
    [{ serverCoreOthers: 0.4, wrkCoreOthers: 0 }, 0.4],
    [{ serverCoreOthers: 0.05 }, 0.05],
    [{}, undefined],
    [{ serverCoreOthers: NaN }, undefined],
  ];
  for (const [m, want] of cases) assert.equal(runNoise(m), want, JSON.stringify(m));
});

test('a run is repeated only when disturbed beyond the limit and attempts remain', () => {
  const cases: Array<[{ serverCoreOthers?: number; wrkCoreOthers?: number }, number, boolean]> = [
    [{ serverCoreOthers: 0.5 }, 1, true],
    [{ serverCoreOthers: 0.5 }, 2, true],
    [{ serverCoreOthers: 0.5 }, 3, false], // the third of three attempts is kept whatever it is
    [{ serverCoreOthers: 0.1 }, 1, false], // at the limit is clean enough
    [{ wrkCoreOthers: 0.11 }, 1, true],
    [{}, 1, false], // noise unknown (not Linux): never repeated
  ];
  for (const [m, attempt, want] of cases) assert.equal(shouldRetry(m, attempt, 3, 0.1), want, `${JSON.stringify(m)} attempt ${attempt}`);
});

test('the least disturbed attempt is kept; unknown noise loses to known', () => {
  type Attempt = { id: string; serverCoreOthers?: number; wrkCoreOthers?: number };
  const a: Attempt = { id: 'a', serverCoreOthers: 0.4 };
  const b: Attempt = { id: 'b', serverCoreOthers: 0.2, wrkCoreOthers: 0.3 };
  const c: Attempt = { id: 'c', serverCoreOthers: 0.25 };
  const x: Attempt = { id: 'x' };
  assert.equal(leastNoisy([a, b, c]).id, 'c');
  assert.equal(leastNoisy([x, a]).id, 'a');
  assert.equal(leastNoisy([x]).id, 'x');
  assert.throws(() => leastNoisy([]), /no attempts/);
});
