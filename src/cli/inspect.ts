// `memfront inspect URL`: asks the admin port what is stored for a URL (GET /inspect) and
// prints it; --json prints the answer as it came.
import { adminGet } from './admin-client.js';

export interface InspectOptions {
  base: string;
  url: string;
  host?: string;
  /** Tags to check the entry for. */
  tags: string[];
  json: boolean;
  out: NodeJS.WritableStream;
}

/** Exit status: 0 cached, 3 not cached (so scripts can test it), 1 the admin port refused or failed. */
export async function runInspect(o: InspectOptions): Promise<number> {
  const q = new URLSearchParams({ url: o.url });
  if (o.host) q.set('host', o.host);
  for (const t of o.tags) q.append('tag', t);
  const got = await adminGet(o.base, `/inspect?${q}`);
  if (got.status !== 200) {
    let why = got.body;
    try {
      why = JSON.parse(got.body).error ?? why;
    } catch {
      // not JSON: the body as it is
    }
    throw new Error(`${o.base}/inspect answered ${got.status}: ${why}`);
  }
  const r = JSON.parse(got.body) as Record<string, unknown>;
  if (o.json) {
    o.out.write(`${JSON.stringify(r, null, 2)}\n`);
  } else {
    const rows: Array<[string, unknown]> = [
      ['url', `${r.host}${r.url}`],
      ['key', r.key],
      ['cached', r.cached ? 'yes' : 'no'],
      ['state', r.state],
      ['freshness', r.freshness],
      ['status', r.status],
      ['age', r.age === undefined ? undefined : `${r.age} s`],
      ['ttl', r.ttl === undefined ? undefined : `${r.ttl} s`],
      ['stored at', r.storedAt],
      ['size', r.size === undefined ? undefined : `${r.size} bytes${r.gzip ? ' (gzip)' : ''}${r.identitySize !== undefined ? `, ${r.identitySize} identity` : ''}`],
      ['gzip', r.gzip === undefined ? undefined : r.gzip ? 'yes' : 'no'],
      ['chunks', r.chunks],
      ['tags', r.tags],
      ...Object.entries((r.tagged ?? {}) as Record<string, boolean>).map(([t, yes]): [string, unknown] => [`  tag ${t}`, yes ? 'yes' : 'no']),
      ['vary', r.vary],
      ['variants', r.variants],
      ['in L1', r.inL1 === undefined ? undefined : r.inL1 ? 'yes' : 'no'],
      ['content-type', r.contentType],
      ['etag', r.etag],
      ['last-modified', r.lastModified],
    ];
    for (const [k, v] of rows) if (v !== undefined && v !== null) o.out.write(`${k.padEnd(14)}${String(v)}\n`);
  }
  return r.cached ? 0 : 3;
}
