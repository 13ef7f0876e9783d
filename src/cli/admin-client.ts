// How `memfront stat` and `memfront inspect` reach a running memfront: its admin port, from
// --admin URL or from the config (the same file, environment and arguments it was started with).
import http from 'node:http';

/** The admin base URL for a config's admin address (a wildcard bind is reached on loopback). */
export function adminBase(admin: { host: string; port: number }): string {
  const host = admin.host === '0.0.0.0' || admin.host === '' ? '127.0.0.1' : admin.host === '::' ? '::1' : admin.host;
  return `http://${host.includes(':') ? `[${host}]` : host}:${admin.port}`;
}

export interface AdminAnswer {
  status: number;
  body: string;
}

export function adminGet(base: string, path: string, timeoutMs = 3000): Promise<AdminAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.get(new URL(path, base), { timeout: timeoutMs, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer from ${base} in ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}
