// The `to: "static"` place: which static server has the request's path (HEAD, remembered for
// static.memoTtlMs by StaticServers), then the request itself from that server, with the
// client's method and Range, through the dispatcher's pooled fetcher. A 3xx from the server
// is passed on: the client follows it.
//
// A fetch that fails at the remembered server makes the path forgotten (and the server marked
// down when it could not be reached at all), and the servers are asked once more at once.
import type { Logger } from 'pino';
import { serviceTargets } from '../policy/reproxy-rules.js';
import type { RouteDecision } from '../policy/route-match.js';
import type { StaticServers } from '../upstream/static-probe.js';
import type { DispatchRequest, RouteHelpers } from './dispatch.js';
import type { FileSource, StepResult } from './file-routes.js';

/** The first server, then one more ask after it failed. */
const ATTEMPTS = 2;

export class StaticRoute implements FileSource {
  constructor(
    private readonly servers: StaticServers,
    private readonly logger: Logger,
  ) {}

  async serve(d: DispatchRequest, _decision: RouteDecision, helpers: RouteHelpers): Promise<StepResult> {
    // The request's own path and query (the seed module HEADed the server's bare URL).
    const pathAndQuery = d.req.url ?? '/';
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const server = await this.servers.find(pathAndQuery);
      if (server === null || helpers.signal.aborted) break;
      // A server URL with a path is a prefix, as for reproxy services.
      const [target] = serviceTargets([server], pathAndQuery);
      try {
        return { kind: 'served', response: await helpers.serveFrom([target], undefined, { redirects: true }) };
      } catch (err) {
        if (helpers.signal.aborted) throw err;
        this.servers.forget(pathAndQuery);
        // A failed status has no cause; a refused connection or a timeout does.
        const unreachable = (err as { cause?: unknown }).cause !== undefined;
        if (unreachable) this.servers.markDown(server);
        this.logger.warn({ err, url: d.req.url, server, unreachable }, 'static server failed to serve a path its HEAD had; asking the servers again');
      }
    }
    return { kind: 'not-there', why: 'no-static-server', last: () => helpers.backend() };
  }
}
