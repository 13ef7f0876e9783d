// Which route a request takes: the config's routes compiled once at start, matched in order
// against the request's path and query, and the `$1`… templates of the winner filled in.
// Pure: no I/O, no clock.

import { ConfigError } from '../errors.js';
import type { RouteConfig, RouteTarget } from '../config/types.js';

export interface CompiledRoute {
  /** Position in the config's list, for messages ("routes[2]"). */
  index: number;
  to: RouteTarget;
  re: RegExp;
  route: RouteConfig;
  /**
   * For a reproxy route: the origins its URLs name literally (no `$` before the path). The
   * operator wrote them, so they need no entry in reproxy.allowedHosts.
   */
  fixedOrigins: ReadonlySet<string>;
}

export interface RouteDecision {
  to: RouteTarget;
  /** The matching route, or undefined for the default (backend). */
  route?: CompiledRoute;
  /** groups[0] is the whole match, groups[n] the n-th group ('' when it did not take part). */
  groups: string[];
}

const DEFAULT: RouteDecision = Object.freeze({ to: 'backend', groups: [] as string[] });

/**
 * The routes as matchers. The config loader has already checked them; this repeats the
 * checks that would make a route unusable, so a bad list never half-works.
 */
export function compileRoutes(routes: readonly RouteConfig[]): CompiledRoute[] {
  return routes.map((route, index) => {
    let re: RegExp;
    try {
      re = new RegExp(route.match);
    } catch (cause) {
      throw new ConfigError(`routes[${index}]: bad regex ${JSON.stringify(route.match)}: ${(cause as Error).message}`, { cause });
    }
    if (route.to === 'reproxy' && route.url === undefined) throw new ConfigError(`routes[${index}]: a reproxy route needs "url"`);
    return { index, to: route.to, re, route, fixedOrigins: literalOrigins(route.to === 'reproxy' ? route.url : undefined) };
  });
}

/** Contract: "Routes are tried in order; the first whose match fits wins; with none, the request goes to the backend." */
export function decideRoute(routes: readonly CompiledRoute[], pathAndQuery: string): RouteDecision {
  for (const route of routes) {
    const m = route.re.exec(pathAndQuery);
    if (m) return { to: route.to, route, groups: Array.from(m, (g) => g ?? '') };
  }
  return DEFAULT;
}

/**
 * A template with `$n` / `${n}` replaced by the match's groups (a group that did not take
 * part, or does not exist, is empty) and `$$` by a plain `$`. Group text is inserted as
 * it was in the request: still percent-encoded.
 */
export function substitute(template: string, groups: readonly string[]): string {
  return template.replace(/\$(?:\$|(\d+)|\{(\d+)\})/g, (whole, bare: string | undefined, braced: string | undefined) => {
    if (whole === '$$') return '$';
    return groups[Number(bare ?? braced)] ?? '';
  });
}

/** The origins of a URL template's URLs whose scheme, host and port are literal text. */
function literalOrigins(template: string | undefined): ReadonlySet<string> {
  const out = new Set<string>();
  for (const url of template?.trim().split(/\s+/) ?? []) {
    // Userinfo is refused whoever wrote it, and a `$` could put anything in the host.
    const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#\\]*)/i.exec(url);
    if (!m || m[1].includes('$') || m[1].includes('@')) continue;
    try {
      const u = new URL(m[1]);
      if (u.protocol === 'http:' || u.protocol === 'https:') out.add(u.origin);
    } catch {
      // not a URL: it will be refused when tried
    }
  }
  return out;
}

/**
 * Contract: "a group holding a `..` or `.` segment (also percent-encoded, `%2e`), a backslash,
 * or an encoded slash (`%2f`) is refused with 400". URL parsers resolve dot segments after
 * the substitution (`/files/$1` with `../secret` is `/secret`), and some servers read `\` or
 * `%2f` as `/`, so such a group could leave the template's path.
 */
export function unsafeGroup(group: string): boolean {
  if (group.includes('\\')) return true;
  const lower = group.toLowerCase();
  if (lower.includes('%2f') || lower.includes('%5c')) return true;
  const path = lower.replace(/%2e/g, '.').split(/[?#]/, 1)[0];
  return path.split('/').some((segment) => segment === '.' || segment === '..');
}

/** Why a route's substitution refuses this request, if it does: its groups would leave the template. */
export function substitutionRefusal(decision: RouteDecision): 'unsafe-path' | undefined {
  const r = decision.route;
  if (!r || (r.route.url === undefined && r.route.key === undefined)) return undefined;
  return decision.groups.slice(1).some(unsafeGroup) ? 'unsafe-path' : undefined;
}
