// From a backend answer to a cache entry: may it be stored (the pure decision plus what only
// the answer's transport knows), its whole body read within a bound, and the entry built
// (stored headers, gzip when worth it, validators), or refused when its gzip body would not
// inflate, or would inflate past cache.maxObjectSize.
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { responseHeadersFromRaw } from '../policy/forward-headers.js';
import { arrivalFacts, decideStore, type StoreDecision, type StoreRules } from '../policy/decide-store.js';
import { isCompressible, storedCoding } from '../policy/encoding.js';
import { entryOf, type Entry } from '../store/entry-codec.js';
import { headersObject, rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import { inflatedLength } from './gzip-body.js';
import { withRuleTtl } from '../policy/url-rules.js';

const gzipAsync = promisify(zlib.gzip);

/** `ruleTtl`: the lifetime a cache.rules ttl rule gives the request's URL (url-rules.ts). */
export function storeDecision(up: UpstreamResponse, rules: StoreRules, now: number, ruleTtl?: number): StoreDecision {
  let decision = withRuleTtl(decideStore({ status: up.status, headers: headersObject(up.rawHeaders) }, rules, now), ruleTtl);
  if (decision.store && storedCoding(contentEncodings(up.rawHeaders)) === null) decision = { store: false, reason: 'encoding' };
  if (decision.store && up.noStore) decision = { store: false, reason: up.noStore };
  return decision;
}

/** The body comes gzip-coded (and may be stored so, once it is known to inflate). */
export function gzipCoded(raw: string[]): boolean {
  return storedCoding(contentEncodings(raw)) === 'gzip';
}

/** Every Content-Encoding field line, as received. */
function contentEncodings(raw: string[]): string[] {
  const fields: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if (raw[i].length === 16 && raw[i].toLowerCase() === 'content-encoding') fields.push(raw[i + 1]);
  return fields;
}

/** A whole body that may not become an entry after all, and why (a Cache-Status detail and a notStored reason). */
export interface Unstorable {
  unstorable: 'too-large' | 'bad-gzip' | 'encoding';
}

export function isUnstorable(built: Entry | Unstorable): built is Unstorable {
  return (built as Unstorable).unstorable !== undefined;
}

/**
 * An entry from a whole backend body: stored headers, gzip when worth it, validators. A gzip
 * body is inflated once first (contract: "stored only if its body inflates completely",
 * "both its received and its inflated size must fit" within `maxObjectSize`); its inflated
 * length goes into the entry, and bounds every inflate of it from then on.
 */
export async function buildEntry(
  up: UpstreamResponse,
  body: Buffer,
  ttl: number,
  now: number,
  compressThreshold: number,
  maxObjectSize: number,
  gzipLevel: number,
): Promise<Entry | Unstorable> {
  const stored: Array<[string, string]> = [];
  for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) {
    const lower = k.toLowerCase();
    if (lower === 'content-length' || lower === 'content-encoding' || lower === 'set-cookie' || lower === 'set-cookie2') continue;
    stored.push([k, v]);
  }
  const coding = storedCoding(contentEncodings(up.rawHeaders));
  if (coding === null) return { unstorable: 'encoding' };
  let gzip = coding === 'gzip';
  let gzippedHere = false;
  let identityLength: number | undefined;
  if (gzip) {
    const inflated = await inflatedLength(body, maxObjectSize);
    if (inflated === 'too-large' || inflated === 'bad-gzip') return { unstorable: inflated };
    identityLength = inflated;
  } else if (body.length > compressThreshold && isCompressible(rawHeader(up.rawHeaders, 'content-type'))) {
    identityLength = body.length;
    body = await gzipAsync(body, { level: gzipLevel });
    gzip = true;
    gzippedHere = true;
  }
  // Its age on arrival and its stale rule (RFC 9111 4.2.3, RFC 5861), read from the
  // headers as received (targeted fields included) and kept with it.
  const facts = arrivalFacts(headersObject(up.rawHeaders), now);
  return entryOf({
    status: up.status,
    headers: stored,
    storedAt: now,
    initialAge: facts.initialAge,
    stale: facts.stale,
    staleAt: now + ttl * 1000,
    gzip,
    identityLength,
    gzippedHere: gzippedHere || undefined,
    gzipLevel: gzippedHere ? gzipLevel : undefined,
    etag: rawHeader(up.rawHeaders, 'etag'),
    lastModified: rawHeader(up.rawHeaders, 'last-modified'),
    body,
  });
}

/** The whole body, or why not. */
export function collect(up: UpstreamResponse, limit: number): Promise<Buffer | 'incomplete' | 'too-large'> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let over = false;
    up.body.on('data', (c: Buffer) => {
      size += c.length;
      if (size > limit) over = true;
      else chunks.push(c);
    });
    const done = () => resolve(!up.complete() ? 'incomplete' : over ? 'too-large' : Buffer.concat(chunks, size));
    up.body.once('end', done);
    up.body.once('close', done);
    up.body.once('error', () => resolve('incomplete'));
    // Closed before these listeners were attached: its events are gone.
    if (up.body.destroyed) done();
  });
}
