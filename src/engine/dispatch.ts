// The dispatcher: which route a request takes on a miss or a bypass, and the upstream
// adapter that answers it. Every route hands back an UpstreamResponse, so storing and
// delivering are the same whatever answered.
//
//   routes (first match) ──► backend ──► answer has X-Reproxy-URL / -Service (reproxy on)?
//        │                     ▲  │          no ─► the backend's answer
//        │   remembered URLs ──┘  │          yes ─► reproxy ─► first good target | 502
//        │   (Cache-For), else    │
//        ├──► reproxy route ──────┴────────────────► reproxy (its `url`, as if the backend sent it)
//        ├──► mogile / static ──► their adapter (issue 4), which may fall back to the backend
//        │    or serve from targets as reproxy does; with no adapter, the backend
//        └──► offload ──► the backend (the 307 to an offload server is the engine's call,
//             made on the answer's headers: offload.ts)
//
// On an offload server (offload.base set), "the backend" is the base: what would go to
// backend.url goes there, with its Host and the loop guard header X-Memfront-Offload.
//
// Reproxy: the backend's body is dropped, the targets are tried in turn with the client's
// method (GET/HEAD), Range and Host, and the first 2xx (or 416) is streamed with the
// backend's preserveHeaders laid over it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { Config, RouteTarget } from '../config/types.js';
import { UpstreamError } from '../errors.js';
import { classifyRequest } from '../policy/classify-request.js';
import { compileGlobs } from '../policy/glob.js';
import {
  checkTarget,
  compileAllowedHosts,
  compilePreserve,
  judgeAnswer,
  mergeHeaders,
  parseUrlList,
  pickHeaders,
  readInstruction,
  serviceTargets,
  targetRequestHeaders,
  type Target,
} from '../policy/reproxy-rules.js';
import { compileRoutes, decideRoute, substitute, substitutionRefusal, type CompiledRoute, type RouteDecision } from '../policy/route-match.js';
import type { BackendProxy, BackendRequest } from '../upstream/backend-proxy.js';
import { ReproxyFetcher, type Attempt } from '../upstream/reproxy-fetcher.js';
import { ReproxyMemo } from '../upstream/reproxy-memo.js';
import { rawHeader, type UpstreamResponse } from '../upstream/upstream.js';
import { OFFLOAD_HEADER } from './offload.js';

export interface DispatchRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The route decided for this request (see routeName). */
  route: string;
  /** The headers the upstream should see (already rewritten). */
  headers: Record<string, string | string[]>;
  /** Method to use instead of the client's (HEAD misses are fetched as GET). */
  method?: string;
}

/** What a route adapter (mogile, static: issue 4) may ask of the dispatcher. */
export interface RouteHelpers {
  signal: AbortSignal;
  /** The request as the backend route answers it (a fallback). */
  backend(): Promise<UpstreamResponse>;
  /**
   * These targets in turn, as reproxy URLs are tried: the client's method, Range and Host,
   * the first 2xx (or 416) streamed; rejects with MF_REPROXY_FAILED when none answers.
   */
  serveFrom(targets: readonly Target[], expectedSize?: number, options?: ServeOptions): Promise<UpstreamResponse>;
}

export interface ServeOptions {
  /** A 3xx is an answer too: a static server that knows where the file is (the client follows it). */
  redirects?: boolean;
}

/** Answers the requests of one route target that this file does not implement itself. */
export type RouteAdapter = (d: DispatchRequest, decision: RouteDecision, helpers: RouteHelpers) => Promise<UpstreamResponse>;

export interface DispatcherDeps {
  cfg: Config;
  logger: Logger;
  /** Adapters for further route targets (mogile, static); without one, a target's requests go to the backend. */
  adapters?: Partial<Record<RouteTarget, RouteAdapter>>;
  /** Default: one built from the timeouts below. */
  reproxyFetcher?: ReproxyFetcher;
  now?: () => number;
}

/** X-Reproxy-Cache-For memory bounds (not in the config: Perlbal had none at all). */
const MEMO_MAX_ENTRIES = 10_000;
const MEMO_MAX_BYTES = 8 * 1024 * 1024;
/** Connecting to a file server on the same network takes milliseconds; a dead one should not cost the backend's whole wait. */
const REPROXY_CONNECT_TIMEOUT_MS = 2000;
/** A backend body that comes with X-Reproxy-URL is read off (to keep its connection) up to this much. */
const DROPPED_BODY_LIMIT = 256 * 1024;


/** What one reproxy needs: where to go and what the backend said about it. */
interface Plan {
  /** URLs as given (checked before use), or targets already trusted (services). */
  urls?: string[];
  targets?: Target[];
  /** Backend (or remembered) headers, those named in `preserve` taken from them. */
  backendRaw: string[];
  preserve: ReadonlySet<string>;
  expectedSize?: number;
  trustedOrigins?: ReadonlySet<string>;
  /** Take a 3xx as the answer (static servers). */
  redirects?: boolean;
  /** Why: for messages. */
  source: string;
}

export class Dispatcher {
  private readonly routes: CompiledRoute[];
  private readonly allowedHost: (host: string) => boolean;
  private readonly preserve: ReadonlySet<string>;
  private readonly sessionCookie: (name: string) => boolean;
  private readonly reproxy: ReproxyFetcher;
  private readonly memo: ReproxyMemo;
  private readonly inFlight = new WeakMap<IncomingMessage, AbortController>();
  private readonly cfg: Config;
  private readonly logger: Logger;
  private readonly adapters: Partial<Record<RouteTarget, RouteAdapter>>;
  /** Route targets answered here or by an adapter; the others go to the backend. */
  private readonly implemented: ReadonlySet<string>;
  /** offload.base on an offload server, else undefined (backend.url). */
  private readonly backendTarget: string | undefined;

  constructor(private readonly backend: BackendProxy, deps: DispatcherDeps) {
    this.cfg = deps.cfg;
    this.logger = deps.logger;
    this.adapters = deps.adapters ?? {};
    this.implemented = new Set(['backend', 'reproxy', 'offload', ...Object.keys(this.adapters)]);
    this.backendTarget = this.cfg.offload.base !== '' ? this.cfg.offload.base : undefined;
    this.routes = compileRoutes(this.cfg.routes);
    this.allowedHost = compileAllowedHosts(this.cfg.reproxy.allowedHosts);
    this.preserve = compilePreserve(this.cfg.reproxy.preserveHeaders);
    this.sessionCookie = compileGlobs(this.cfg.cache.sessionCookies);
    const timeoutMs = this.cfg.backend.timeoutMs;
    this.reproxy =
      deps.reproxyFetcher ??
      new ReproxyFetcher({ connectTimeoutMs: Math.min(timeoutMs, REPROXY_CONNECT_TIMEOUT_MS), headersTimeoutMs: timeoutMs, bodyTimeoutMs: timeoutMs });
    this.memo = new ReproxyMemo({ maxEntries: MEMO_MAX_ENTRIES, maxBytes: MEMO_MAX_BYTES, maxSeconds: this.cfg.cache.maxTtl }, deps.now);
    for (const r of this.routes) {
      if (!this.implemented.has(r.to)) this.logger.warn({ route: r.index, to: r.to }, `routes[${r.index}]: "to": "${r.to}" is not implemented yet; its requests go to the backend`);
    }
  }

  /** Decided once per request; shows in the log line and the metrics. */
  routeName(url: string): string {
    // No routes (most sites): every request is the backend's, without a lookup per hit.
    if (this.routes.length === 0) return 'backend';
    const to = this.decide(url).to;
    return this.implemented.has(to) ? to : 'backend';
  }

  /** Why the route refuses this request (400), if it does: see substitutionRefusal. */
  routeRefusal(url: string): string | undefined {
    return substitutionRefusal(this.decide(url));
  }

  /**
   * The same pure decision as routeName (the compiled routes never change), made again
   * here because the engine hands over only its name.
   */
  fetch(d: DispatchRequest): Promise<UpstreamResponse> {
    const decision = this.decide(d.req.url ?? '/');
    // The plain backend route with reproxy off (every logged-in request on most sites): one
    // backend request, which cancel() reaches itself; no AbortController to make per request.
    if (decision.to !== 'reproxy' && this.adapters[decision.to] === undefined && !this.cfg.reproxy.enabled) return this.backend.fetch(this.backendRequest(d));
    return this.fetchAbortable(d, decision);
  }

  private async fetchAbortable(d: DispatchRequest, decision: RouteDecision): Promise<UpstreamResponse> {
    const abort = new AbortController();
    this.inFlight.set(d.req, abort);
    try {
      if (decision.to === 'reproxy') return await this.fromRoute(d, decision, abort.signal);
      const adapter = this.adapters[decision.to];
      if (adapter) return await adapter(d, decision, this.helpers(d, decision, abort.signal));
      return await this.fromBackend(d, abort.signal);
    } finally {
      this.inFlight.delete(d.req);
    }
  }

  /** The client went away before an answer arrived. */
  cancel(req: IncomingMessage): void {
    this.inFlight.get(req)?.abort();
    this.backend.cancel(req);
  }

  close(): void {
    this.backend.close();
    void this.reproxy.close();
  }

  private helpers(d: DispatchRequest, decision: RouteDecision, signal: AbortSignal): RouteHelpers {
    return {
      signal,
      backend: () => this.fromBackend(d, signal),
      serveFrom: (targets, expectedSize, options) =>
        this.run(d, { targets: [...targets], backendRaw: [], preserve: this.preserve, expectedSize, redirects: options?.redirects, source: `routes[${decision.route?.index}] (${decision.to})` }, signal),
    };
  }

  private decide(url: string): RouteDecision {
    return decideRoute(this.routes, url);
  }

  /** Contract: the `reproxy` route "is answered from `url` as if the backend had sent X-Reproxy-URL: url". */
  private fromRoute(d: DispatchRequest, decision: RouteDecision, signal: AbortSignal): Promise<UpstreamResponse> {
    const route = decision.route!;
    const list = parseUrlList(substitute(route.route.url!, decision.groups));
    if (!list.ok) return Promise.reject(new UpstreamError('MF_REPROXY_FAILED', `routes[${route.index}]: url gave no usable URL (${list.reason})`));
    return this.run(d, { urls: list.urls, backendRaw: [], preserve: this.preserve, trustedOrigins: route.fixedOrigins, source: `routes[${route.index}]` }, signal);
  }

  private async fromBackend(d: DispatchRequest, signal: AbortSignal): Promise<UpstreamResponse> {
    const enabled = this.cfg.reproxy.enabled;
    const memoKey = enabled ? this.memoKey(d.req) : undefined;
    const remembered = memoKey !== undefined ? this.memo.get(memoKey) : undefined;
    if (remembered) {
      // X-Reproxy-Cache-For: the backend said where this lives; ask it again only when that fails.
      try {
        const preserve = new Set(remembered.names);
        return await this.run(d, { urls: remembered.urls, backendRaw: remembered.headers, preserve, expectedSize: remembered.expectedSize, source: 'X-Reproxy-Cache-For' }, signal);
      } catch (err) {
        this.memo.forget(memoKey!);
        if (signal.aborted) throw err;
        this.logger.warn({ err, url: d.req.url }, 'remembered reproxy URLs failed; asking the backend again');
      }
    }

    const up = await this.backend.fetch(this.backendRequest(d));
    if (!enabled) return up;
    const instruction = readInstruction((name) => rawHeader(up.rawHeaders, name));
    if (instruction.kind === 'none') return up;

    // Perlbal and mod_reproxy: the backend's body is ignored whatever its status.
    dropBody(up);
    if (instruction.kind === 'service') {
      const servers = Object.hasOwn(this.cfg.reproxy.services, instruction.name) ? this.cfg.reproxy.services[instruction.name] : undefined;
      if (!servers) {
        const err = new UpstreamError('MF_REPROXY_FAILED', `unknown X-Reproxy-Service ${JSON.stringify(instruction.name)} (not in reproxy.services)`);
        this.logger.error({ err, service: instruction.name, url: d.req.url }, 'unknown reproxy service');
        throw err;
      }
      const targets = serviceTargets(servers, d.req.url ?? '/');
      return this.run(d, { targets, backendRaw: up.rawHeaders, preserve: this.preserve, expectedSize: instruction.expectedSize, source: `X-Reproxy-Service ${instruction.name}` }, signal);
    }

    const list = instruction.list;
    if (!list.ok) {
      throw new UpstreamError('MF_REPROXY_FAILED', list.reason === 'too-long' ? 'X-Reproxy-URL longer than the limit: refused' : 'X-Reproxy-URL names no URL');
    }
    if (list.ignored > 0) this.logger.warn({ url: d.req.url, ignored: list.ignored }, 'X-Reproxy-URL lists more URLs than are tried; the rest are ignored');
    // Headers named in X-Reproxy-Cache-For are laid over the answer like preserved ones, now
    // and when remembered, so the first answer and the replayed ones look the same.
    const preserve = instruction.cacheFor ? rememberable(this.preserve, instruction.cacheFor.headers) : this.preserve;
    const response = await this.run(d, { urls: list.urls, backendRaw: up.rawHeaders, preserve, expectedSize: instruction.expectedSize, source: 'X-Reproxy-URL' }, signal);
    if (instruction.cacheFor && memoKey !== undefined) {
      const names = [...preserve];
      const headers = pickHeaders(up.rawHeaders, names);
      this.memo.set(memoKey, { urls: list.urls, headers, names, expectedSize: instruction.expectedSize }, instruction.cacheFor.seconds);
    }
    return response;
  }

  private backendRequest(d: DispatchRequest): BackendRequest {
    // Contract (offload server): "what would go to backend.url goes to offload.base (path and
    // query appended, Host that of offload.base) with X-Memfront-Offload: 1".
    const headers = this.backendTarget === undefined ? d.headers : { ...d.headers, [OFFLOAD_HEADER]: '1' };
    return { req: d.req, res: d.res, headers, method: d.method, target: this.backendTarget };
  }

  /**
   * Remembered reproxy URLs are used by, and learnt from, anonymous GET and HEAD requests
   * only: one visitor's session-bound file is never handed to another.
   */
  private memoKey(req: IncomingMessage): string | undefined {
    const c = classifyRequest({ method: req.method ?? '', headers: req.headers }, { sessionCookie: this.sessionCookie });
    if (!c.cacheable) return undefined;
    return `${(req.headers.host ?? '').toLowerCase()}${req.url ?? '/'}`;
  }

  /** Tries the plan's targets in turn; the first good answer, dressed for the client, or a 502 error. */
  private async run(d: DispatchRequest, plan: Plan, signal: AbortSignal): Promise<UpstreamResponse> {
    const refused: Attempt[] = [];
    let targets = plan.targets;
    if (!targets) {
      targets = [];
      for (const url of plan.urls ?? []) {
        const check = checkTarget(url, { allowedHost: this.allowedHost, trustedOrigins: plan.trustedOrigins });
        if (check.ok) targets.push(check.target);
        else refused.push({ href: url, result: `refused: ${check.reason}` });
      }
      if (refused.length > 0) this.logger.warn({ url: d.req.url, refused, source: plan.source }, 'reproxy URL refused (never fetched)');
    }
    // Contract: "Range and HEAD requests are carried through as they are" to reproxy targets;
    // the client's own method, not the GET a cacheable HEAD is fetched from the backend with.
    const head = d.req.method === 'HEAD';
    const range = d.req.headers.range !== undefined;
    const request = {
      method: head ? ('HEAD' as const) : ('GET' as const),
      headers: targetRequestHeaders({ client: d.req.headers, forwarded: d.headers, range }),
      signal,
    };
    const result = await this.reproxy.first(targets, request, (status, headers) =>
      plan.redirects && status >= 300 && status < 400 ? { take: true } : judgeAnswer(status, headers, plan.expectedSize),
    );
    const attempts = refused.concat(result.attempts);
    const answer = result.answer;
    if (!answer) {
      const tried = attempts.map((a) => `${a.href} → ${a.result}`).join('; ') || 'none';
      throw new UpstreamError('MF_REPROXY_FAILED', `${plan.source}: no reproxy target answered (${tried})`, { cause: result.lastError });
    }
    const partial = range && (answer.status === 206 || answer.status === 416);
    return {
      status: answer.status,
      rawHeaders: mergeHeaders(plan.backendRaw, answer.rawHeaders, plan.preserve),
      body: answer.body,
      complete: answer.complete,
      abort: answer.abort,
      // A part or a bare head is never stored as if it were the page.
      noStore: head ? 'head' : partial ? 'partial' : undefined,
    };
  }
}

/**
 * preserveHeaders plus the headers X-Reproxy-Cache-For names, minus body framing and
 * Set-Cookie: a remembered answer goes to every visitor, one visitor's cookie to none.
 */
function rememberable(preserve: ReadonlySet<string>, named: readonly string[]): ReadonlySet<string> {
  const out = new Set(preserve);
  for (const name of compilePreserve(named)) if (name !== 'set-cookie' && name !== 'set-cookie2') out.add(name);
  return out;
}

/** Reads off and ignores a body no one will see, keeping the connection when it is small. */
function dropBody(up: UpstreamResponse): void {
  let seen = 0;
  up.body.on('data', (chunk: Buffer) => {
    seen += chunk.length;
    if (seen > DROPPED_BODY_LIMIT) up.abort();
  });
  up.body.on('error', () => {});
  up.body.resume();
}
