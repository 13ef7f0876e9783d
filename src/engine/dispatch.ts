// The dispatcher: which route a request takes on a miss or a bypass, and the upstream
// adapter that answers it. Every route hands back an UpstreamResponse, so storing and
// delivering are the same whatever answered.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { BackendProxy } from '../upstream/backend-proxy.js';
import type { UpstreamResponse } from '../upstream/upstream.js';

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

export class Dispatcher {
  constructor(private readonly backend: BackendProxy) {}

  /** Decided once per request; shows in the log line and the metrics. */
  routeName(_url: string): string {
    return 'backend';
  }

  fetch(d: DispatchRequest): Promise<UpstreamResponse> {
    return this.backend.fetch({ req: d.req, res: d.res, headers: d.headers, method: d.method });
  }

  /** The client went away before an answer arrived. */
  cancel(req: IncomingMessage): void {
    this.backend.cancel(req);
  }

  close(): void {
    this.backend.close();
  }
}
