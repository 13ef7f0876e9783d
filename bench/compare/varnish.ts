// Varnish in front of the same backend: in-memory storage, stored gzipped (as memfront stores
// entries) and gunzipped for identity clients, 30 s grace like memfront's stale-while-
// revalidate, logged-in visitors passed, PURGE honoured. Runs in the foreground as us (-j none).

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath } from '../lib/find-binary.js';
import { freePort } from '../lib/free-port.js';
import { pinnedSpawn } from '../lib/pinned-spawn.js';
import { stopChild } from '../lib/stop-child.js';
import { waitForPort } from '../lib/wait-for-port.js';
import type { Availability, CacheServer, StartOptions } from './cache-server.js';

export const VARNISH_DEFAULT_TTL_S = 300;
export const VARNISH_GRACE_S = 30;

function varnishd(): string | undefined {
  return findOnPath('varnishd') ?? ['/usr/sbin/varnishd', '/usr/local/sbin/varnishd'].find((p) => existsSync(p));
}

export function varnishAvailability(): Availability {
  const bin = varnishd();
  if (!bin) return { installed: false, reason: 'not installed' };
  // varnishd -V prints "varnishd (varnish-7.1.1 revision ...)" on stderr.
  const v = spawnSync(bin, ['-V'], { encoding: 'utf8' });
  const version = /\((varnish-[^ )]+)/.exec(`${v.stdout ?? ''}${v.stderr ?? ''}`)?.[1] ?? 'varnish';
  // varnishd compiles VCL to C at start-up; without a compiler it cannot run at all.
  if (!findOnPath('cc') && !findOnPath('gcc')) return { installed: false, reason: 'not installed (varnishd is, but no C compiler for its VCL)' };
  return { installed: true, version };
}

/** storeGzip false: bodies are stored as the backend sent them (identity), as a site serving identity clients would. */
export function varnishVcl(backendPort: number, opts: { storeGzip?: boolean } = {}): string {
  const storeGzip = opts.storeGzip ?? true;
  return `vcl 4.1;

backend cms {
  .host = "127.0.0.1";
  .port = "${backendPort}";
}

acl purgers { "127.0.0.1"; "::1"; }

sub vcl_recv {
  if (req.method == "PURGE") {
    if (client.ip !~ purgers) { return (synth(403)); }
    return (purge);
  }
  if (req.http.Cookie ~ "wordpress_logged_in_") {
    set req.http.X-Bench-Pass = "1";
    return (pass);
  }
}

sub vcl_backend_response {
${storeGzip ? '  if (beresp.http.Content-Type ~ "^text/") { set beresp.do_gzip = true; }\n' : ''}  set beresp.grace = ${VARNISH_GRACE_S}s;
}

sub vcl_deliver {
  if (req.http.X-Bench-Pass) {
    set resp.http.X-Cache = "BYPASS";
  } else if (obj.hits > 0) {
    if (obj.ttl < 0s) { set resp.http.X-Cache = "STALE"; } else { set resp.http.X-Cache = "HIT"; }
  } else {
    set resp.http.X-Cache = "MISS";
  }
}
`;
}

export async function startVarnish(opts: StartOptions & { storeGzip?: boolean }): Promise<CacheServer> {
  const bin = varnishd();
  if (!bin) throw new Error('varnish: not installed');
  const backendPort = Number(new URL(opts.backendUrl).port);
  const dir = await mkdtemp(join(tmpdir(), 'memfront-bench-varnish-'));
  const vcl = join(dir, 'bench.vcl');
  await writeFile(vcl, varnishVcl(backendPort, { storeGzip: opts.storeGzip }));
  const port = await freePort();
  const args = [
    '-F', '-j', 'none', '-n', join(dir, 'work'), '-a', `127.0.0.1:${port}`, '-f', vcl, '-s', 'malloc,512m',
    '-p', `default_ttl=${VARNISH_DEFAULT_TTL_S}`, '-p', `default_grace=${VARNISH_GRACE_S}`,
  ];
  const child = pinnedSpawn(opts.cpu, bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const close = async () => {
    await stopChild(child, 5000);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    // Compiling the VCL takes a few seconds on a busy machine.
    await waitForPort('127.0.0.1', port, { child, name: 'varnishd', timeoutMs: 30_000 });
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}\n${tail}`, { cause: err });
  }
  return {
    id: 'varnish',
    label: 'Varnish',
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    sampleChildren: true,
    staleWhileRevalidateS: VARNISH_GRACE_S,
    defaultTtlS: VARNISH_DEFAULT_TTL_S,
    output: () => tail,
    close,
  };
}
