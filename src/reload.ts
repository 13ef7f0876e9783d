// What a new config changes for a running memfront, decided from the two configs alone, so a
// SIGHUP can apply it in place and say in the log what it did.
import type { Config } from './config/types.js';

export interface ReloadPlan {
  /** Key paths whose value differs (lists and route tables compared whole). */
  changed: string[];
  /** The same cache servers: the connected store is handed to the new engine, not reopened. */
  keepStore: boolean;
  /** listen.host or listen.port changed: a new listener is bound before the old one closes. */
  rebindListen: boolean;
  /** admin.host or admin.port changed. */
  rebindAdmin: boolean;
  /** Keys read only at start; a change is logged and waits for a restart. */
  needsRestart: string[];
}

/** Keys that cannot change in a running process. */
const START_ONLY = ['log.pretty'];

// Leaves are whatever the schema holds at a key: nested objects are walked, anything else
// (numbers, strings, lists, the services map's lists) is compared whole.
function isBranch(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

/** Leaf key paths that differ between `a` and `b`. */
export function changedKeys(a: unknown, b: unknown, prefix = ''): string[] {
  if (isBranch(a) && isBranch(b) && prefix !== 'reproxy.services') {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])];
    return keys.flatMap((k) => changedKeys(a[k], b[k], prefix === '' ? k : `${prefix}.${k}`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [prefix];
}

export function planReload(old: Config, next: Config): ReloadPlan {
  const changed = changedKeys(old, next);
  const touched = (prefix: string) => changed.some((k) => k === prefix || k.startsWith(`${prefix}.`));
  const storeChanged =
    old.cache.enabled !== next.cache.enabled ||
    old.cache.store !== next.cache.store ||
    (next.cache.store === 'memcached' && touched('cache.memcached.servers')) ||
    (next.cache.store === 'memcached' && touched('cache.memcached.timeoutMs')) ||
    (next.cache.store === 'memcached' && touched('cache.memcached.maxItemSize')) ||
    (next.cache.store === 'memcached' && touched('cache.memcached.protocol')) ||
    (next.cache.store === 'memory' && touched('cache.memory')) ||
    // The hot tier may sit inside the store: a new size or lifetime gets a new one.
    touched('cache.l1');
  return {
    changed,
    keepStore: next.cache.enabled && !storeChanged,
    rebindListen: touched('listen'),
    rebindAdmin: touched('admin.host') || touched('admin.port'),
    needsRestart: changed.filter((k) => START_ONLY.includes(k)),
  };
}
