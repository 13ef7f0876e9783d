// Zipf popularity over ranked pages: rank k (1-based) is requested with probability
// proportional to 1/k^s. The sampler draws a rank by binary search in the cumulative table.

/** The probability of each rank (index 0 = rank 1), summing to 1. s = 0 is uniform. */
export function zipfProbabilities(n: number, s: number): Float64Array {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`Zipf needs at least one page, got ${n}`);
  if (!(s >= 0)) throw new RangeError(`the Zipf exponent must be >= 0, got ${s}`);
  const p = new Float64Array(n);
  let sum = 0;
  for (let k = 1; k <= n; k++) {
    p[k - 1] = 1 / k ** s;
    sum += p[k - 1];
  }
  for (let i = 0; i < n; i++) p[i] /= sum;
  return p;
}

export class ZipfSampler {
  readonly probabilities: Float64Array;
  private readonly cdf: Float64Array;

  constructor(n: number, s: number, private readonly rand: () => number) {
    this.probabilities = zipfProbabilities(n, s);
    this.cdf = new Float64Array(n);
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += this.probabilities[i];
      this.cdf[i] = acc;
    }
    // Rounding may leave the last entry a hair under 1; a draw of 0.9999999 must still land.
    this.cdf[n - 1] = 1;
  }

  /** A rank index, 0 = the most popular page. */
  next(): number {
    const u = this.rand();
    let lo = 0;
    let hi = this.cdf.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.cdf[mid] > u) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
