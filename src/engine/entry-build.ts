// From a backend answer to a cache entry: may it be stored (the pure decision plus what only
// the answer's transport knows), its whole body read within a bound, and the entry built
// (stored headers, gzip when worth it, validators).
import { promisify } from 'node:util';
import zlib from 'node:zlib';
import { responseHeadersFromRaw } from '../policy/forward-headers.js';
import { arrivalFacts, decideStore, type StoreDecision, type StoreRules } from '../policy/decide-store.js';
import { isCompressible } from '../policy/encoding.js';
import { entryOf, type Entry } from '../store/entry-codec.js';
import { headersObject, rawHeader, type UpstreamResponse } from '../upstream/upstream.js';

const gzipAsync = promisify(zlib.gzip);

export function storeDecision(up: UpstreamResponse, rules: StoreRules, now: number): StoreDecision {
  let decision = decideStore({ status: up.status, headers: headersObject(up.rawHeaders) }, rules, now);
  const ce = rawHeader(up.rawHeaders, 'content-encoding')?.trim().toLowerCase();
  if (decision.store && ce && ce !== 'gzip' && ce !== 'identity') decision = { store: false, reason: 'encoding' };
  if (decision.store && up.noStore) decision = { store: false, reason: up.noStore };
  return decision;
}

/** An entry from a whole backend body: stored headers, gzip when worth it, validators. */
export async function buildEntry(up: UpstreamResponse, body: Buffer, ttl: number, now: number, compressThreshold: number): Promise<Entry> {
  const stored: Array<[string, string]> = [];
  for (const [k, v] of responseHeadersFromRaw(up.rawHeaders)) {
    const lower = k.toLowerCase();
    if (lower === 'content-length' || lower === 'content-encoding' || lower === 'set-cookie') continue;
    stored.push([k, v]);
  }
  const ce = rawHeader(up.rawHeaders, 'content-encoding')?.trim().toLowerCase();
  let gzip = ce === 'gzip';
  let identityLength: number | undefined;
  if (!gzip && body.length > compressThreshold && isCompressible(rawHeader(up.rawHeaders, 'content-type'))) {
    identityLength = body.length;
    body = await gzipAsync(body);
    gzip = true;
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
  });
}
