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
