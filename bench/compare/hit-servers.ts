// The servers of the hit-path comparison, each in front of the same origin and pinned to the
// server core: memfront (its own memcached), the bare Node ceiling, nginx srcache+memc and
// Varnish. One shape for all, with the pids whose CPU and memory are charged to each.

import { MEMFRONT_COMMAND } from '../lib/memfront-process.js';
import { startConstantServer } from '../lib/start-constant-server.js';
import type { Availability } from './cache-server.js';
import { startMemfrontTarget } from './memfront-target.js';
import { nginxAvailability, startNginxSrcache } from './nginx-srcache.js';
import { startVarnish, varnishAvailability } from './varnish.js';

/** varnish stores gzip (do_gzip), varnish-plain stores what the origin sent (identity). */
export type HitServerKind = 'memfront' | 'bare' | 'bare-distinct' | 'nginx' | 'varnish' | 'varnish-plain';

export interface HitServer {
  kind: HitServerKind;
  /** http://127.0.0.1:port, no trailing slash. */
  url: string;
  pid: number;
  sampleChildren: boolean;
  /** Not children but charged to it: its memcached. */
  companionPids: number[];
  adminUrl?: string;
  version: string;
  output(): string;
  close(): Promise<void>;
}

/**
 * memfront's defaults but for the two keys the issue allows: its own memcached (set by
 * startMemfrontTarget) and warn-level logs, as the other servers run without access logs.
 * Listener and admin ports are free ones on 127.0.0.1.
 */
export const MEMFRONT_HIT_CONFIG: Record<string, unknown> = { log: { level: 'warn' } };

export function hitServerAvailability(kind: HitServerKind): Availability {
  switch (kind) {
    case 'memfront':
      return { installed: true, version: `memfront (${MEMFRONT_COMMAND}, as its bin runs)` };
    case 'bare':
    case 'bare-distinct':
      return { installed: true, version: `node:http ${process.version}` };
    case 'nginx':
      return nginxAvailability();
    case 'varnish':
    case 'varnish-plain':
      return varnishAvailability();
  }
}

export async function startHitServer(kind: HitServerKind, originUrl: string, size: number, cpu: number | undefined, version: string, urls = 100): Promise<HitServer> {
  if (kind === 'bare' || kind === 'bare-distinct') {
    const distinct = kind === 'bare-distinct' ? urls : 1;
    const bare = await startConstantServer(size, { cpu, distinct, headers: { 'Cache-Control': 'public, max-age=3600' } });
    return { kind, url: bare.url.replace(/\/$/, ''), pid: bare.pid, sampleChildren: false, companionPids: [], version, output: () => '', close: () => bare.close() };
  }
  const o = { backendUrl: originUrl, cpu };
  const s =
    kind === 'memfront' ? await startMemfrontTarget(MEMFRONT_HIT_CONFIG, o)
    : kind === 'nginx' ? await startNginxSrcache(o)
    : await startVarnish({ ...o, storeGzip: kind === 'varnish' });
  return {
    kind,
    url: s.url,
    pid: s.pid,
    sampleChildren: s.sampleChildren,
    companionPids: s.companionPids ?? [],
    adminUrl: s.adminUrl,
    version,
    output: () => s.output(),
    close: () => s.close(),
  };
}
