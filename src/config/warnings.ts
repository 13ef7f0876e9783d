// What is valid but probably not what the operator meant: one line each, for stderr. A config
// with warnings still runs (memfront has always ignored unknown variables and capped TTLs);
// the lines only stop those from passing unseen.
import type { Config } from './types.js';

/**
 * MEMFRONT_* variables that name no config key: a misspelling would otherwise leave the
 * default in place without a word. `known` is every key's env name.
 */
export function unknownEnvWarnings(env: NodeJS.ProcessEnv, known: readonly string[]): string[] {
  const names = new Set(known);
  return Object.keys(env)
    .filter((name) => name.startsWith('MEMFRONT_') && !names.has(name))
    .sort()
    .map((name) => {
      const near = nearest(name, known);
      return `environment variable ${name} is not a memfront setting and is ignored${near ? ` (did you mean ${near}?)` : ''}`;
    });
}

/** Lifetimes that cache.maxTtl will cut short (CONTRACT.md: "never above cache.maxTtl"). */
export function ttlWarnings(cfg: Config): string[] {
  const { defaultTtl, maxTtl, rules } = cfg.cache;
  const out: string[] = [];
  if (defaultTtl > maxTtl) {
    out.push(`cache.defaultTtl (${defaultTtl}) is above cache.maxTtl (${maxTtl}): entries without freshness headers are kept ${maxTtl} s`);
  }
  rules.forEach((r, i) => {
    if (r.ttl !== undefined && r.ttl > maxTtl) out.push(`cache.rules[${i}].ttl (${r.ttl}) is above cache.maxTtl (${maxTtl}): it is kept ${maxTtl} s`);
  });
  return out;
}

/** The known name within 3 edits of `name`, if there is one (the closest). */
function nearest(name: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 4;
  for (const k of known) {
    const d = editDistance(name, k);
    if (d < bestDistance) [best, bestDistance] = [k, d];
  }
  return best;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = row;
  }
  return previous[b.length];
}
