// The hit rate a TTL cache should reach on this workload, to print beside the measured one.
//
// Per page i (request probability p_i, anonymous request rate r_i = (1 - loggedIn) * lambda * p_i,
// TTL T_i), one cycle is: a request that fetches, the entry's lifetime, then the wait for the
// next request. With Poisson arrivals the lifetime holds r_i * T_i hits, so the hit ratio is
// r T / (1 + r T) (Che / TTL-cache approximation). Refinements, each off when its input is 0:
//   - purges at rate q_i = purgeRate * p_i end the lifetime early: its mean is (1 - e^-qT) / q;
//   - stale-while-revalidate W: the first request after expiry (not after a purge) is served
//     stale when it comes within W, with probability r/(r+q) * (1 - e^-(r+q)W);
//   - a fetch of F seconds: requests arriving meanwhile wait for it (coalesced misses), or are
//     served stale when the fetch is a background refresh.
// Logged-in requests always bypass. Two figures: the long-run (steady-state) one, and the
// expectation for a run of D seconds starting from an empty cache, where every page's first
// request misses (renewal count, exact for deterministic lifetimes; with purges the lifetime
// is taken at its mean).

export interface TheoryPage {
  p: number;    // request probability
  ttlS: number; // T
}

export interface TheoryInput {
  pages: readonly TheoryPage[];
  /** All requests per second (anonymous and logged in). */
  requestRate: number;
  loggedInShare: number;
  /** Pages updated (purged) per second, drawn with the same probabilities. */
  purgeRate: number;
  staleWhileRevalidateS: number;
  /** Seconds a fetch takes (the backend's render time): the coalescing window. */
  fetchS: number;
  /** Run length for the cold-start figure; omit for the steady state only. */
  durationS?: number;
}

export interface TheoryResult {
  /** Share of all requests served from the cache (hit + stale), long run. */
  steadyState: number;
  /** The same among anonymous requests. */
  steadyStateAnonymous: number;
  /** Share of all requests answered HIT (not stale), long run. */
  steadyStateHitOnly: number;
  /** Backend requests per second in the long run (fetches + logged-in). */
  steadyStateBackendRate: number;
  /** Expected share served from the cache in a run of durationS from an empty cache. */
  coldStart?: number;
  coldStartAnonymous?: number;
  /** Expected backend requests in that run. */
  coldStartBackendRequests?: number;
}

/** The brief's formula, nothing else: sum_i p_i * (lambda p_i T)/(1 + lambda p_i T). */
export function simpleTtlHitRate(probabilities: ArrayLike<number>, lambda: number, ttlS: number): number {
  let h = 0;
  for (let i = 0; i < probabilities.length; i++) {
    const x = lambda * probabilities[i] * ttlS;
    h += probabilities[i] * (x / (1 + x));
  }
  return h;
}

/** Mean of min(T, Exp(q)): how long an entry lives when purges may end it early. */
export function meanLifetime(ttlS: number, q: number): number {
  if (q <= 0) return ttlS;
  return -Math.expm1(-q * ttlS) / q;
}

/** Probability that the request ending a lifetime is served stale (came within W of expiry). */
export function staleChance(r: number, q: number, ttlS: number, swrS: number): number {
  if (swrS <= 0 || r <= 0) return 0;
  return Math.exp(-q * ttlS) * (r / (r + q)) * -Math.expm1(-(r + q) * swrS);
}

interface PageCycle {
  r: number;
  lifetime: number;
  stale: number;
}

function cycleOf(page: TheoryPage, input: TheoryInput): PageCycle {
  const r = (1 - input.loggedInShare) * input.requestRate * page.p;
  const q = input.purgeRate * page.p;
  return { r, lifetime: meanLifetime(page.ttlS, q), stale: staleChance(r, q, page.ttlS, input.staleWhileRevalidateS) };
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7): good to ~15 digits, O(1). */
export function logGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return 0.5 * Math.log(2 * Math.PI) + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/**
 * P(a, x), the regularized lower incomplete gamma function: a series below a + 1, a continued
 * fraction above (Numerical Recipes' gammp). Converges in O(sqrt(a)) steps.
 */
export function regularizedGammaP(a: number, x: number): number {
  if (x <= 0) return 0;
  const lead = -x + a * Math.log(x) - logGamma(a);
  if (x < a + 1) {
    let sum = 1 / a;
    let term = sum;
    for (let n = 1; n < 100_000; n++) {
      term *= x / (a + n);
      sum += term;
      if (Math.abs(term) < Math.abs(sum) * 1e-15) break;
    }
    return Math.min(1, sum * Math.exp(lead));
  }
  // Lentz's method for the continued fraction of Q(a, x).
  const tiny = 1e-300;
  let b = x + 1 - a;
  let c = 1 / tiny;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i < 100_000; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < tiny) d = tiny;
    c = b + an / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const delta = d * c;
    h *= delta;
    if (Math.abs(delta - 1) < 1e-15) break;
  }
  return Math.max(0, 1 - Math.exp(lead) * h);
}

/** P(Poisson(m) >= k) = P(Erlang(k, rate) <= x) with m = rate * x, = P(k, m). */
export function poissonAtLeast(m: number, k: number): number {
  if (k <= 0) return 1;
  if (m <= 0) return 0;
  return regularizedGammaP(k, m);
}

/**
 * Expected fetches of one page in [0, D] from an empty cache: the k-th fetch happens at
 * Erlang(k, r) + (k - 1) * (lifetime + F), so E[N] = sum_k P(Erlang(k, r) <= D - (k-1)(L+F)).
 */
export function expectedFetches(r: number, lifetimeS: number, fetchS: number, durationS: number): number {
  if (r <= 0 || durationS <= 0) return 0;
  const gap = lifetimeS + fetchS;
  // Nothing is kept at all: every request fetches.
  if (gap <= 0) return r * durationS;
  let n = 0;
  for (let k = 1; ; k++) {
    const room = durationS - (k - 1) * gap;
    if (room <= 0) break;
    const pk = poissonAtLeast(r * room, k);
    n += pk;
    if (pk < 1e-12) break;
  }
  return n;
}

export function theoreticalHitRate(input: TheoryInput): TheoryResult {
  const anonShare = 1 - input.loggedInShare;
  const F = input.fetchS;
  let anonServed = 0;
  let anonHitOnly = 0;
  let fetchRate = 0;
  for (const page of input.pages) {
    if (page.p <= 0) continue;
    const c = cycleOf(page, input);
    if (c.r <= 0) continue;
    // One cycle: the fetching request, r*F that arrive while it fetches, r*L during the lifetime.
    const perCycle = 1 + c.r * F + c.r * c.lifetime;
    const served = c.r * c.lifetime + c.stale * (1 + c.r * F);
    anonServed += page.p * (served / perCycle);
    anonHitOnly += page.p * ((c.r * c.lifetime) / perCycle);
    fetchRate += c.r / perCycle;
  }
  const result: TheoryResult = {
    steadyState: anonShare * anonServed,
    steadyStateAnonymous: anonServed,
    steadyStateHitOnly: anonShare * anonHitOnly,
    steadyStateBackendRate: fetchRate + input.loggedInShare * input.requestRate,
  };
  if (input.durationS !== undefined && input.durationS > 0) {
    const D = input.durationS;
    let anonRequests = 0;
    let served = 0;
    let fetches = 0;
    for (const page of input.pages) {
      const c = cycleOf(page, input);
      if (c.r <= 0) continue;
      const requests = c.r * D;
      const n = expectedFetches(c.r, c.lifetime, F, D);
      const first = -Math.expm1(-c.r * D); // the first fetch is always a miss: the cache starts empty
      const later = Math.max(0, n - first);
      const missEvents = first + later * (1 - c.stale);
      // Waiters for a miss are misses too; those of a background refresh are served stale.
      const misses = Math.min(requests, missEvents * (1 + c.r * F));
      anonRequests += requests;
      served += requests - misses;
      fetches += n;
    }
    const anon = anonRequests > 0 ? served / anonRequests : 0;
    result.coldStartAnonymous = anon;
    result.coldStart = anonShare * anon;
    result.coldStartBackendRequests = fetches + input.loggedInShare * input.requestRate * D;
  }
  return result;
}
