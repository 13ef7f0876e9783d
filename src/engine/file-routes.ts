// The `mogile` and `static` routes as the dispatcher's adapters: each route walks its fallback
// chain (policy/fallback-chain.ts), asking each place in turn until one serves the file.
// Only "the file is not there" moves the chain on; tracker trouble (no tracker answering,
// another ERR) and a failing backend are errors, answered 503/502 whatever the fallback.
import type { Logger } from 'pino';
import type { RouteTarget } from '../config/types.js';
import { fallbackChain, type FileStep } from '../policy/fallback-chain.js';
import type { RouteDecision } from '../policy/route-match.js';
import type { UpstreamResponse } from '../upstream/upstream.js';
import type { DispatchRequest, RouteAdapter, RouteHelpers } from './dispatch.js';

/** Why a place did not serve the file. */
export type NotThereReason = 'unknown-key' | 'no-paths' | 'no-path-answered' | 'no-static-server';

/** What asking one place (mogile, static) came to. */
export type StepResult =
  | { kind: 'served'; response: UpstreamResponse }
  | {
      kind: 'not-there';
      why: NotThereReason;
      /** The client's answer when no place is left to ask (mogile: 404 for an unknown key, else 502). */
      last(): Promise<UpstreamResponse>;
    };

/** One place a file may be: the mogile or the static step. */
export interface FileSource {
  serve(d: DispatchRequest, decision: RouteDecision, helpers: RouteHelpers): Promise<StepResult>;
}

export interface FileRoutesOptions {
  mogile?: FileSource;
  static?: FileSource;
  logger: Logger;
}

/** Adapters for the `mogile` and `static` routes, one for each place that is configured. */
export function fileRouteAdapters(o: FileRoutesOptions): Partial<Record<RouteTarget, RouteAdapter>> {
  const sources: Partial<Record<FileStep, FileSource>> = { mogile: o.mogile, static: o.static };
  const adapter = (to: 'mogile' | 'static'): RouteAdapter => async (d, decision, helpers) => {
    // Storage nodes and static servers serve files: a form post or a PURGE-like method to
    // a file path is the CMS's to answer.
    const method = d.req.method ?? 'GET';
    if (method !== 'GET' && method !== 'HEAD') return helpers.backend();
    let missed: StepResult | undefined;
    for (const step of fallbackChain(to, decision.route?.route.fallback)) {
      if (step === 'backend') return helpers.backend();
      const source = sources[step];
      // The config loader refuses a route whose places are not configured; this is a guard.
      if (!source) continue;
      const r = await source.serve(d, decision, helpers);
      if (r.kind === 'served') return r.response;
      o.logger.debug({ url: d.req.url, step, why: r.why }, 'file not there; next place in the chain');
      missed = r;
    }
    if (missed?.kind === 'not-there') return missed.last();
    return helpers.backend();
  };
  const out: Partial<Record<RouteTarget, RouteAdapter>> = {};
  if (o.mogile) out.mogile = adapter('mogile');
  if (o.static) out.static = adapter('static');
  return out;
}
