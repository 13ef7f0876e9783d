// memfront's own answers when a route fails: which status, and the answer itself.
import { formatCacheStatus } from '../policy/cache-status.js';
import type { Ctx } from './handler.js';

export type GatewayStatus = 502 | 503 | 504;

const GATEWAY_ANSWERS: Record<GatewayStatus, { body: string; why: string }> = {
  502: { body: 'Bad Gateway\n', why: 'backend-error' },
  503: { body: 'Service Unavailable\n', why: 'tracker-unavailable' },
  504: { body: 'Gateway Timeout\n', why: 'backend-timeout' },
};

/**
 * How a route's failure is answered. Contract: on a mogile route "No tracker answers: 503"
 * (the file may well exist; MogileFS is down); a backend too slow: 504; the rest (a tracker's
 * other ERR, no path or reproxy URL answering, a refused backend): 502.
 */
export function gatewayStatus(err: unknown): GatewayStatus {
  const code = (err as { code?: string } | undefined)?.code;
  return code === 'MF_TRACKER_UNAVAILABLE' ? 503 : code === 'MF_BACKEND_TIMEOUT' ? 504 : 502;
}

/** 502/503/504 to the client; a client whose answer had begun is cut off instead. */
export function gatewayError(ctx: Ctx, o: { store: boolean; xCache: string }, status: GatewayStatus, detail?: string): void {
  const { res } = ctx;
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const { body, why } = GATEWAY_ANSWERS[status];
  ctx.own = true;
  res.writeHead(status, {
    'Content-Type': 'text/plain; charset=utf-8',
    'Content-Length': Buffer.byteLength(body),
    'X-Cache': o.xCache,
    'Cache-Status': formatCacheStatus({ fwd: o.store ? 'miss' : 'bypass', detail: detail ?? why }),
  });
  res.end(ctx.req.method === 'HEAD' ? undefined : body);
}
