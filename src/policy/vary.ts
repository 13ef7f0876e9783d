// Vary (RFC 9111 4.1): which request headers select among a URL's stored responses, the key
// of each variant, and the small index stored under the URL's own key that names them.
// Pure: the engine reads and writes the index and entries (variants.ts).
import { createHash, randomBytes } from 'node:crypto';
import { listMembers, type Headers } from './headers.js';

export type VaryVerdict =
  /** No Vary, or only Accept-Encoding (one entry serves gzip and identity clients). */
  | { kind: 'none' }
  /** Lower-cased, sorted, each once. */
  | { kind: 'names'; names: string[] }
  | { kind: 'refused'; reason: 'vary' };

// memfront negotiates Accept-Encoding itself (one entry, both codings): never a variant.
const OWN = 'accept-encoding';
// Contract: "Vary: *, or a Vary naming Cookie or Authorization, is not stored": a variant per
// visitor is not a shared page.
const PER_VISITOR: ReadonlySet<string> = new Set(['cookie', 'authorization']);

export function varyOf(headers: Headers): VaryVerdict {
  const names = new Set<string>();
  for (const member of listMembers(headers['vary'])) {
    const name = member.toLowerCase();
    // RFC 9111 4.1: "A stored response with a Vary header field value containing a member "*"
    // always fails to match."
    if (name === '*' || PER_VISITOR.has(name)) return { kind: 'refused', reason: 'vary' };
    if (name !== OWN) names.add(name);
  }
  return names.size === 0 ? { kind: 'none' } : { kind: 'names', names: [...names].sort() };
}

/**
 * The value a request gives one Vary name, normalised. RFC 9111 4.1: the values match when
 * they are the same after "normalizing both header field values in a way that is known to
 * have identical semantics ... (e.g., removing any whitespace around commas)"; "If ... a header
 * field is absent from a request, it can only match another request if it is also absent
 * there" (null, unlike an empty value).
 */
export function normalisedValue(headers: Headers, name: string): string | null {
  const v = headers[name];
  if (v === undefined) return null;
  const joined = typeof v === 'string' ? v : v.join(',');
  return joined.trim().replace(/[ \t]*,[ \t]*/g, ',').replace(/[ \t]+/g, ' ');
}

/** Which variant a request selects among those varying on `names`: a short digest of its values. */
export function variantId(names: readonly string[], headers: Headers): string {
  const values = names.map((n) => normalisedValue(headers, n));
  return createHash('sha256').update(JSON.stringify([names, values])).digest('base64url').slice(0, 22);
}

/**
 * The key a variant is stored under: the URL's key, the index's id (a purged or expired index
 * is replaced by one with a new id, so variants stored before can never be found again) and
 * the variant.
 */
export function variantKey(baseKey: string, index: VariantIndex, headers: Headers): string {
  return `${baseKey}:v:${index.id}:${variantId(index.names, headers)}`;
}

const VARIANT_SUFFIX = /:v:[A-Za-z0-9_-]{1,16}:[A-Za-z0-9_-]{22}$/;

/** The URL's own key for a variant's key; a key that is no variant's is its own. */
export function baseOfKey(key: string): string {
  return key.replace(VARIANT_SUFFIX, '');
}

/** What is stored under a varying URL's key. */
export interface VariantIndex {
  /** Random per index, part of every variant key. */
  id: string;
  names: string[];
  /** Variant id → ms until which memcached keeps it. */
  variants: Record<string, number>;
}

export function newIndex(names: string[]): VariantIndex {
  return { id: randomBytes(6).toString('base64url'), names, variants: {} };
}

export type Placement =
  | { kind: 'placed'; index: VariantIndex; changed: boolean; id: string }
  | { kind: 'refused'; reason: 'too-many-variants' };

/**
 * The index once this variant is in it: still-live variants count against `maxVariants`
 * (contract: "up to cache.maxVariants ... variants per URL"); a known one is only renewed.
 */
export function placeVariant(index: VariantIndex, id: string, until: number, maxVariants: number, now: number): Placement {
  const variants: Record<string, number> = {};
  for (const [v, t] of Object.entries(index.variants)) if (t > now) variants[v] = t;
  const known = variants[id] !== undefined;
  if (!known && Object.keys(variants).length >= maxVariants) return { kind: 'refused', reason: 'too-many-variants' };
  const changed = !known || variants[id] < until || Object.keys(variants).length !== Object.keys(index.variants).length;
  variants[id] = Math.max(variants[id] ?? 0, until);
  return { kind: 'placed', index: { ...index, variants }, changed, id };
}

/** The index lives as long as its longest-lived variant (seconds from now, at least 1). */
export function indexTtlSeconds(index: VariantIndex, now: number): number {
  const last = Math.max(now, ...Object.values(index.variants));
  return Math.max(1, Math.ceil((last - now) / 1000));
}

// The stored form: "MFV" | version u8 | JSON. Not an entry ("MFE"): an older memfront reads it
// as an unreadable entry, which is a miss.
const MAGIC = Buffer.from('MFV\x01', 'latin1');

export function encodeIndex(index: VariantIndex): Buffer {
  return Buffer.concat([MAGIC, Buffer.from(JSON.stringify(index), 'utf8')]);
}

export function isIndex(value: Buffer | null | undefined): boolean {
  return !!value && value.length > MAGIC.length && value.compare(MAGIC, 0, MAGIC.length, 0, MAGIC.length) === 0;
}

/** The index, or null for anything that is not a whole, well-formed one. */
export function decodeIndex(value: Buffer | null | undefined): VariantIndex | null {
  if (!isIndex(value)) return null;
  let o: unknown;
  try {
    o = JSON.parse(value!.toString('utf8', MAGIC.length));
  } catch {
    return null;
  }
  if (typeof o !== 'object' || o === null) return null;
  const i = o as Record<string, unknown>;
  if (typeof i.id !== 'string' || !/^[A-Za-z0-9_-]{1,16}$/.test(i.id)) return null;
  if (!Array.isArray(i.names) || i.names.length === 0 || !i.names.every((n) => typeof n === 'string' && /^[!#$%&'*+\-.^_`|~0-9a-z]+$/.test(n))) return null;
  if (typeof i.variants !== 'object' || i.variants === null || !Object.values(i.variants).every((t) => typeof t === 'number')) return null;
  return { id: i.id, names: i.names as string[], variants: i.variants as Record<string, number> };
}
