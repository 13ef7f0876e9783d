// The theoretical hit rate: the brief's TTL-cache formula, its refinements (logged-in share,
// purges, stale-while-revalidate, coalescing), and the cold-start figure for a finite run,
// checked against hand calculations and a simulation of the same model.

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRandom } from '../../demo/seeded-random.js';
import {
  expectedFetches,
  meanLifetime,
  poissonAtLeast,
  simpleTtlHitRate,
  staleChance,
  theoreticalHitRate,
  type TheoryInput,
} from '../../bench/workload/hit-rate-theory.js';
import { zipfProbabilities } from '../../bench/workload/zipf.js';

const close = (a: number, b: number, tol: number, what: string) => assert.ok(Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

function input(over: Partial<TheoryInput> = {}): TheoryInput {
  const p = zipfProbabilities(100, 1);
  return {
    pages: Array.from(p, (pi) => ({ p: pi, ttlS: 60 })),
    requestRate: 200,
    loggedInShare: 0,
    purgeRate: 0,
    staleWhileRevalidateS: 0,
    fetchS: 0,
    ...over,
  };
}

test('the brief formula by hand: two pages', () => {
  // p = 0.75 and 0.25, lambda = 1/s, T = 4 s: 0.75 * 3/4 + 0.25 * 1/2 = 0.6875.
  close(simpleTtlHitRate([0.75, 0.25], 1, 4), 0.6875, 1e-12, 'hit rate');
});

test('with nothing else switched on, the steady state is the brief formula', () => {
  const i = input();
  const want = simpleTtlHitRate(zipfProbabilities(100, 1), 200, 60);
  const got = theoreticalHitRate(i);
  close(got.steadyState, want, 1e-12, 'steady state');
  close(got.steadyStateHitOnly, want, 1e-12, 'hit only');
  close(got.steadyStateAnonymous, want, 1e-12, 'anonymous');
});

test('logged-in visitors bypass: the overall rate is the anonymous rate times their share', () => {
  const got = theoreticalHitRate(input({ loggedInShare: 0.1 }));
  // Anonymous requests arrive at 0.9 * lambda.
  close(got.steadyStateAnonymous, simpleTtlHitRate(zipfProbabilities(100, 1), 180, 60), 1e-12, 'anonymous');
  close(got.steadyState, 0.9 * got.steadyStateAnonymous, 1e-12, 'overall');
  assert.ok(got.steadyStateBackendRate > 0.1 * 200, 'logged-in requests all reach the backend');
});

test('purges shorten lifetimes; stale-while-revalidate serves the request after expiry', () => {
  const base = theoreticalHitRate(input()).steadyState;
  assert.ok(theoreticalHitRate(input({ purgeRate: 5 })).steadyState < base);
  const swr = theoreticalHitRate(input({ staleWhileRevalidateS: 30 }));
  assert.ok(swr.steadyState > base);
  close(swr.steadyStateHitOnly, base, 1e-12, 'hits alone do not change with swr');
  // A fetch that takes time makes waiters miss too.
  assert.ok(theoreticalHitRate(input({ fetchS: 0.02 })).steadyState < base);
});

test('mean lifetime and stale chance', () => {
  close(meanLifetime(60, 0), 60, 0, 'no purges');
  close(meanLifetime(60, 1e-9), 60, 1e-5, 'rare purges');
  close(meanLifetime(60, 1), 1 - Math.exp(-60), 1e-12, 'frequent purges: about 1/q');
  close(staleChance(10, 0, 60, 30), 1 - Math.exp(-300), 1e-12, 'busy page, no purges');
  close(staleChance(0.01, 0, 60, 30), 1 - Math.exp(-0.3), 1e-12, 'quiet page');
  assert.equal(staleChance(10, 0, 60, 0), 0);
});

test('poissonAtLeast against known values', () => {
  close(poissonAtLeast(1, 1), 1 - Math.exp(-1), 1e-12, 'P(X>=1), m=1');
  close(poissonAtLeast(2, 2), 1 - 3 * Math.exp(-2), 1e-12, 'P(X>=2), m=2');
  close(poissonAtLeast(6000, 3), 1, 1e-12, 'huge mean');
  // Summed term by term: P(X >= 100) for m = 100 and P(X >= 30) for m = 20.
  const tail = (m: number, k: number) => {
    let below = 0;
    let term = Math.exp(-m);
    for (let j = 0; j < k; j++) {
      below += term;
      term *= m / (j + 1);
    }
    return 1 - below;
  };
  close(poissonAtLeast(100, 100), tail(100, 100), 1e-10, 'm=100, k=100');
  close(poissonAtLeast(20, 30), tail(20, 30), 1e-10, 'm=20, k=30');
  close(poissonAtLeast(30, 20), tail(30, 20), 1e-10, 'm=30, k=20');
  assert.equal(poissonAtLeast(0, 1), 0);
  assert.equal(poissonAtLeast(5, 0), 1);
});

test('expected fetches: one per page within a TTL, about D/(T + 1/r) over a long run', () => {
  close(expectedFetches(0.5, 60, 0, 30), 1 - Math.exp(-15), 1e-12, 'run shorter than the TTL');
  const r = 2;
  const long = expectedFetches(r, 60, 0, 36_000);
  close(long / (36_000 / (60 + 1 / r)), 1, 0.01, 'long run');
});

/** The model simulated: Poisson arrivals, deterministic TTL, fetches take F, cache starts empty. */
function simulateMisses(r: number, T: number, F: number, D: number, reps: number, seed: number): { misses: number; fetches: number; requests: number } {
  const rand = seededRandom(seed);
  let misses = 0;
  let fetches = 0;
  let requests = 0;
  for (let i = 0; i < reps; i++) {
    let t = 0;
    let freshUntil = -Infinity;
    let fetchDone = -Infinity;
    for (;;) {
      t += -Math.log(1 - rand()) / r;
      if (t > D) break;
      requests++;
      if (t < fetchDone) misses++; // waits for the fetch in flight
      else if (t < freshUntil) continue; // hit
      else {
        misses++;
        fetches++;
        fetchDone = t + F;
        freshUntil = t + F + T;
      }
    }
  }
  return { misses: misses / reps, fetches: fetches / reps, requests: requests / reps };
}

test('cold start matches a simulation of the model', () => {
  const cases: Array<[r: number, T: number, F: number, D: number]> = [
    [0.05, 60, 0, 60],
    [0.3, 60, 0.02, 200],
    [5, 20, 0.02, 100],
  ];
  for (const [r, T, F, D] of cases) {
    const sim = simulateMisses(r, T, F, D, 4000, 7);
    const fetches = expectedFetches(r, T, F, D);
    close(fetches, sim.fetches, Math.max(0.02, sim.fetches * 0.03), `fetches r=${r} T=${T} D=${D}`);
    const got = theoreticalHitRate({ pages: [{ p: 1, ttlS: T }], requestRate: r, loggedInShare: 0, purgeRate: 0, staleWhileRevalidateS: 0, fetchS: F, durationS: D });
    const simRate = 1 - sim.misses / sim.requests;
    close(got.coldStart!, simRate, 0.02, `hit rate r=${r} T=${T} D=${D}`);
  }
});

test('a cold run is below the long-run figure and approaches it as the run grows', () => {
  const short = theoreticalHitRate(input({ durationS: 30 }));
  const long = theoreticalHitRate(input({ durationS: 100_000 }));
  assert.ok(short.coldStart! < short.steadyState);
  close(long.coldStart!, long.steadyState, 0.002, 'long run');
  assert.ok(short.coldStartBackendRequests! >= 1);
});
