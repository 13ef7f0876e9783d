// Answers of a pure function kept for the few distinct arguments a hot path sees
// (Accept-Encoding values, peer addresses, ttls). Bounded without bookkeeping: a full memo
// starts over, and the hot arguments come straight back.
export function boundedMemo<K, V>(fn: (arg: K) => V, max: number): (arg: K) => V {
  const memo = new Map<K, V>();
  return (arg) => {
    let v = memo.get(arg);
    if (v === undefined) {
      v = fn(arg);
      if (memo.size >= max) memo.clear();
      memo.set(arg, v);
    }
    return v;
  };
}

interface Made<V> {
  a: string;
  b: string;
  v: V;
  next: Made<V> | undefined;
}

/** How many (a, b) pairs one target keeps; a target asked for under more starts over. */
const PAIRS_PER_TARGET = 8;

/**
 * boundedMemo for fn(a, b, target) where the target is what varies (a URL) and a and b
 * almost never do (scheme and Host). Keyed by the target alone: the request's own string is
 * hashed as it is, where a joined key would be built, flattened and hashed on every call.
 * Each target keeps the pairs it was asked for under (a site's hosts), compared by value.
 * At most `max` answers are kept in all.
 */
export function targetMemo<V>(fn: (a: string, b: string, target: string) => V, max: number): (a: string, b: string, target: string) => V {
  const memo = new Map<string, Made<V>>();
  let kept = 0;
  return (a, b, target) => {
    let first = memo.get(target);
    let n = 0;
    for (let m = first; m !== undefined; m = m.next, n++) if (m.a === a && m.b === b) return m.v;
    const v = fn(a, b, target);
    if (n >= PAIRS_PER_TARGET) {
      kept -= n;
      first = undefined;
    }
    if (kept >= max) {
      memo.clear();
      kept = 0;
      first = undefined;
    }
    memo.set(target, { a, b, v, next: first });
    kept++;
    return v;
  };
}
