// Who sends each request: a share of visitors is logged in (WordPress's session cookie, so
// every cache bypasses them) and a share accepts gzip, as browsers do (bots and curl often not).

export interface VisitorMix {
  loggedInShare: number; // 0..1
  gzipShare: number;     // 0..1
}

export interface Visitor {
  loggedIn: boolean;
  gzip: boolean;
}

/** The cookie a logged-in WordPress visitor carries; its name matches `wordpress_logged_in_*`. */
export const LOGGED_IN_COOKIE = 'wordpress_logged_in_x=bench%7C1700000000%7Ctoken';

export function pickVisitor(mix: VisitorMix, rand: () => number): Visitor {
  return { loggedIn: rand() < mix.loggedInShare, gzip: rand() < mix.gzipShare };
}

export function visitorHeaders(v: Visitor): Record<string, string> {
  const h: Record<string, string> = { 'user-agent': 'memfront-bench' };
  if (v.gzip) h['accept-encoding'] = 'gzip, deflate, br';
  if (v.loggedIn) h.cookie = LOGGED_IN_COOKIE;
  return h;
}

/** The four kinds of visitor, indexed by visitorIndex, so headers are built once, not per request. */
export const VISITOR_KINDS: readonly Visitor[] = [
  { loggedIn: false, gzip: false },
  { loggedIn: false, gzip: true },
  { loggedIn: true, gzip: false },
  { loggedIn: true, gzip: true },
];

export function visitorIndex(v: Visitor): number {
  return (v.loggedIn ? 2 : 0) + (v.gzip ? 1 : 0);
}
