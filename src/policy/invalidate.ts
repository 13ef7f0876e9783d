// Which cached URLs an unsafe request's answer invalidates (RFC 9111 4.4): pure, from the
// request's target and the answer's status and location fields; the engine deletes their keys.

/** RFC 9110 9.2.1: the safe methods. PURGE is memfront's own and never reaches the origin. */
const SAFE: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PURGE']);

/** Whether the method is safe, and its answer can invalidate nothing. */
export function isSafeMethod(method: string): boolean {
  return SAFE.has(method.toUpperCase());
}

export interface UnsafeRequest {
  method: string;
  scheme: string;
  /** The Host of the request (lower case, with its port if any). */
  host: string;
  /** The request target as received: origin-form path and query. */
  url: string;
}

export interface UnsafeAnswer {
  status: number;
  location?: string;
  contentLocation?: string;
}

/**
 * The path-and-query targets on the request's own host whose entries must go. Empty for a
 * safe method or an error answer.
 */
export function invalidationTargets(req: UnsafeRequest, res: UnsafeAnswer): string[] {
  // RFC 9111 4.4: "A cache MUST invalidate the target URI ... when it receives a non-error
  // status code in response to an unsafe request method (including methods whose safety is
  // unknown)." Non-error: 2xx and 3xx.
  if (isSafeMethod(req.method) || res.status < 200 || res.status >= 400) return [];
  const base = originOf(req);
  if (base === null) return [];
  const targets = [req.url];
  // RFC 9111 4.4: "the URI(s) in the Location and Content-Location response header fields (if
  // present) are candidates for invalidation" ... "a cache MUST NOT trigger an invalidation
  // under these conditions if the origin ... of the URI to be invalidated differs from that
  // of the target URI".
  for (const ref of [res.location, res.contentLocation]) {
    const target = sameOriginTarget(base, ref);
    if (target !== null && !targets.includes(target)) targets.push(target);
  }
  return targets;
}

function originOf(req: UnsafeRequest): URL | null {
  try {
    return new URL(req.url, `${req.scheme}://${req.host}`);
  } catch {
    return null;
  }
}

/** The reference resolved against the request's URI, as path and query, when it is on the same origin. */
function sameOriginTarget(base: URL, ref: string | undefined): string | null {
  if (ref === undefined || ref.trim() === '') return null;
  let u: URL;
  try {
    u = new URL(ref.trim(), base);
  } catch {
    return null;
  }
  if (u.origin !== base.origin) return null;
  return u.pathname + u.search;
}
