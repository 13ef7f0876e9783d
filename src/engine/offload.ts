// Offload, as mod_offload does: large files matched by a `"to": "offload"` route are not sent
// from here but redirected (307) to one of the route's offload servers, each a memfront with
// `offload.base` pointing back here, which fetches the file once, caches it and serves it.
//
// The decision needs no body: a stored entry's size, or the backend's Content-Length. The
// server is chosen by consistent hashing of the path, so a file is always sent to the same
// server (one copy in the pool, not one per server) and adding a server moves only its share.
// An offload server's own requests carry X-Memfront-Offload and are never redirected (the
// loop guard): it must get the file, not a redirect to itself.
//
// Only requests that use the cache are redirected: a visitor with a session (or an
// Authorization header) may be fetching something that is theirs alone, which an offload
// server, fetching anonymously, must not be handed to serve.
import type { IncomingHttpHeaders } from 'node:http';
import type { RouteConfig } from '../config/types.js';
import { compileRoutes, decideRoute, type CompiledRoute } from '../policy/route-match.js';
import { HashRing } from '../store/ring.js';
import type { Entry } from '../store/entry-codec.js';

/** Contract: the offload route's minSize default. */
export const DEFAULT_MIN_SIZE = 1024 * 1024;
/** The loop guard: sent by an offload server to its base, and never redirected there. */
export const OFFLOAD_HEADER = 'x-memfront-offload';

export interface OffloadTarget {
  servers: string[];
  ring: HashRing;
  minSize: number;
}

export class Offload {
  private readonly routes: CompiledRoute[];
  private readonly targets = new Map<number, OffloadTarget>();

  constructor(routes: readonly RouteConfig[]) {
    const compiled = compileRoutes(routes);
    for (const r of compiled) {
      if (r.to !== 'offload' || !r.route.servers?.length) continue;
      const servers = r.route.servers.map((s) => s.replace(/\/+$/, ''));
      this.targets.set(r.index, { servers, ring: new HashRing(servers), minSize: r.route.minSize ?? DEFAULT_MIN_SIZE });
    }
    // Routes are tried in order: an earlier route of another kind wins over an offload one.
    this.routes = this.targets.size > 0 ? compiled : [];
  }

  /** The offload target that may redirect this request, if any (checked before anything is fetched). */
  targetFor(req: { method?: string; url?: string; headers: IncomingHttpHeaders }): OffloadTarget | undefined {
    if (this.routes.length === 0) return undefined;
    return redirectable(req) ? this.match(req.url ?? '/') : undefined;
  }

  private match(url: string): OffloadTarget | undefined {
    const d = decideRoute(this.routes, url);
    return d.to === 'offload' && d.route ? this.targets.get(d.route.index) : undefined;
  }
}

/** GET and HEAD only, and never a request an offload server sent (the loop guard). */
export function redirectable(req: { method?: string; headers: IncomingHttpHeaders }): boolean {
  return (req.method === 'GET' || req.method === 'HEAD') && req.headers[OFFLOAD_HEADER] === undefined;
}

/** Contract: "a 200 of at least minSize bytes". Unknown size: served here. */
export function worthOffloading(target: OffloadTarget, status: number, size: number | undefined): boolean {
  return status === 200 && size !== undefined && size >= target.minSize;
}

/** The size a stored entry stands for: its identity body when known, else what is stored. */
export function entrySize(entry: Entry): number {
  return entry.identityLength ?? entry.chunks?.length ?? entry.body.length;
}

/** A backend Content-Length, when there is exactly one usable value. */
export function declaredLength(value: string | undefined): number | undefined {
  if (value === undefined || !/^\s*\d{1,15}\s*$/.test(value)) return undefined;
  return Number(value);
}

/**
 * Contract: "Location: one of servers followed by the request's path and query", the server
 * chosen by consistent hashing of the path (the query does not move a file elsewhere).
 */
export function offloadLocation(target: OffloadTarget, url: string): string {
  // Absolute-form targets carry their own authority: only the path and query go on.
  const pathAndQuery = url.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/?#]*/, '').split('#', 1)[0] || '/';
  const q = pathAndQuery.indexOf('?');
  const path = q === -1 ? pathAndQuery : pathAndQuery.slice(0, q);
  return target.ring.get(path)! + (pathAndQuery.startsWith('/') ? pathAndQuery : `/${pathAndQuery}`);
}
