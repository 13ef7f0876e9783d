// One plain HTTP request with the whole answer in memory: for warming and checking a URL
// before a measurement, where we must see headers and body exactly as a client does.

import { request } from 'node:http';

export interface ProbeAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

export function httpProbe(url: string, opts: { method?: string; headers?: Record<string, string>; timeoutMs?: number } = {}): Promise<ProbeAnswer> {
  return new Promise((resolve, reject) => {
    // agent: false, so the probe leaves no keep-alive socket behind.
    const req = request(url, { method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.setTimeout(opts.timeoutMs ?? 10_000, () => req.destroy(new Error(`no answer from ${url} within ${opts.timeoutMs ?? 10_000} ms`)));
    req.on('error', reject);
    req.end();
  });
}
