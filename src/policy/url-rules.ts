// cache.rules compiled once into the lookup a request makes (CONTRACT.md "Per-URL rules").
// Pure: the engine decides what a pass or a ttl does to the request (BYPASS with detail=rule,
// or the stored lifetime), this only says which rule applies.
import type { UrlRule } from '../config/types.js';
import type { StoreDecision } from './decide-store.js';

export interface UrlRuleVerdict {
  /** Never use the cache: BYPASS, nothing stored. */
  pass?: true;
  /** Seconds a storable response is kept, already capped at cache.maxTtl; 0 = not stored. */
  ttl?: number;
}

/**
 * `ruleFor(pathAndQuery)`: the first rule whose `match` fits, or undefined when none does (the
 * request is then handled as without rules). Regexes were checked by the config schema.
 */
export function compileUrlRules(rules: readonly UrlRule[], maxTtl: number): (pathAndQuery: string) => UrlRuleVerdict | undefined {
  if (rules.length === 0) return () => undefined;
  // Verdicts built once: a hot path allocates nothing per request. Frozen, as they are shared.
  const compiled = rules.map((r) => ({
    re: new RegExp(r.match),
    verdict: Object.freeze(r.pass === true ? { pass: true as const } : { ttl: Math.min(r.ttl ?? 0, maxTtl) }),
  }));
  return (pathAndQuery) => {
    for (const { re, verdict } of compiled) if (re.test(pathAndQuery)) return verdict;
    return undefined;
  };
}

/**
 * Contract: `{ "ttl": N }`: "a response that may be stored is stored for N seconds (0 = not
 * stored) whatever its freshness headers say; Set-Cookie, private and no-store still keep it
 * out". So a refusal on freshness grounds alone (no lifetime, already stale, no-cache) gives
 * way to the rule; every other refusal stands.
 */
export function withRuleTtl(decision: StoreDecision, ruleTtl: number | undefined): StoreDecision {
  if (ruleTtl === undefined) return decision;
  if (!decision.store && !FRESHNESS_REASONS.has(decision.reason)) return decision;
  return ruleTtl > 0 ? { store: true, ttl: ruleTtl } : { store: false, reason: 'rule' };
}

const FRESHNESS_REASONS: ReadonlySet<string> = new Set(['zero-ttl', 'already-stale', 'no-cache']);
