// nginx with the srcache and memc modules (Debian: libnginx-mod-http-srcache-filter and
// libnginx-mod-http-memc) as a memcached-backed page cache in front of the same backend:
// one worker, its own memcached, a private prefix directory, run in the foreground as us.

import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findOnPath } from '../lib/find-binary.js';
import { freePort } from '../lib/free-port.js';
import { startMemcached } from '../lib/memcached-process.js';
import { pinProcess } from '../lib/pin-process.js';
import { pinnedSpawn } from '../lib/pinned-spawn.js';
import { stopChild } from '../lib/stop-child.js';
import { waitForPort } from '../lib/wait-for-port.js';
import type { Availability, CacheServer, StartOptions } from './cache-server.js';

const MODULE_DIRS = ['/usr/lib/nginx/modules', '/usr/share/nginx/modules', '/usr/lib64/nginx/modules', '/etc/nginx/modules'];
// ndk is not needed by these two, but Debian builds them against it; load it when present.
const MODULES = ['ndk_http_module.so', 'ngx_http_memc_module.so', 'ngx_http_srcache_filter_module.so'];
const NEEDED = ['ngx_http_memc_module.so', 'ngx_http_srcache_filter_module.so'];
export const NGINX_DEFAULT_TTL_S = 300;

function nginxBinary(): string | undefined {
  return findOnPath('nginx') ?? ['/usr/sbin/nginx', '/usr/local/sbin/nginx', '/usr/local/nginx/sbin/nginx'].find((p) => existsSync(p));
}

interface NginxSetup {
  bin: string;
  version: string;
  /** Absolute paths of the modules to load (none when built in, as in OpenResty). */
  loadModules: string[];
}

function setup(): NginxSetup | string {
  const bin = nginxBinary();
  if (!bin) return 'not installed';
  // nginx -V prints its version and build options on stderr.
  const v = spawnSync(bin, ['-V'], { encoding: 'utf8' });
  const build = `${v.stdout ?? ''}${v.stderr ?? ''}`;
  const version = /nginx version: (\S+)/.exec(build)?.[1] ?? 'nginx';
  if (/srcache/.test(build) && /memc/.test(build)) return { bin, version, loadModules: [] };
  const dir = MODULE_DIRS.find((d) => NEEDED.every((m) => existsSync(join(d, m))));
  if (!dir) return `not installed (nginx is, but not the srcache and memc modules: apt-get install libnginx-mod-http-srcache-filter libnginx-mod-http-memc)`;
  return { bin, version, loadModules: MODULES.map((m) => join(dir, m)).filter((p) => existsSync(p)) };
}

export function nginxAvailability(): Availability {
  const s = setup();
  return typeof s === 'string' ? { installed: false, reason: s } : { installed: true, version: `${s.version} + srcache + memc` };
}

export interface NginxConfigInput {
  prefix: string;
  port: number;
  backendPort: number;
  memcachedPort: number;
  loadModules: string[];
}

/**
 * The page cache as srcache's documentation sets it up: fetch from memcached through an
 * internal /memc location before proxying, store after, lifetime from the response's headers
 * ($srcache_expire), logged-in visitors (WordPress cookie) skip both, PURGE deletes the key.
 */
export function nginxConfig(c: NginxConfigInput): string {
  return `${c.loadModules.map((m) => `load_module ${m};`).join('\n')}
daemon off;
master_process on;
worker_processes 1;
pid ${c.prefix}/nginx.pid;
error_log ${c.prefix}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${c.prefix}/client_body;
  proxy_temp_path ${c.prefix}/proxy;
  fastcgi_temp_path ${c.prefix}/fastcgi;
  uwsgi_temp_path ${c.prefix}/uwsgi;
  scgi_temp_path ${c.prefix}/scgi;
  keepalive_requests 1000000;
  upstream cms { server 127.0.0.1:${c.backendPort}; keepalive 64; }
  upstream cache { server 127.0.0.1:${c.memcachedPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${c.port} reuseport;
    location = /memc {
      internal;
      memc_connect_timeout 100ms;
      memc_send_timeout 100ms;
      memc_read_timeout 100ms;
      set $memc_key $arg_key;
      set $memc_exptime $arg_exptime;
      memc_pass cache;
    }
    location @purge {
      set $memc_cmd delete;
      set $memc_key $host$uri;
      memc_pass cache;
    }
    location / {
      error_page 418 = @purge;
      if ($request_method = PURGE) { return 418; }
      set $skip 0;
      if ($http_cookie ~ "wordpress_logged_in_") { set $skip 1; }
      set $key $host$uri;
      srcache_fetch_skip $skip;
      srcache_store_skip $skip;
      srcache_fetch GET /memc key=$key;
      srcache_store PUT /memc key=$key&exptime=$srcache_expire;
      srcache_store_statuses 200 203 301 404 410;
      srcache_default_expire ${NGINX_DEFAULT_TTL_S}s;
      srcache_max_expire 86400s;
      add_header X-Cache $srcache_fetch_status always;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $host;
      proxy_pass http://cms;
    }
  }
}
`;
}

export async function startNginxSrcache(opts: StartOptions): Promise<CacheServer> {
  const s = setup();
  if (typeof s === 'string') throw new Error(`nginx srcache: ${s}`);
  const backendPort = Number(new URL(opts.backendUrl).port);
  const memcached = await startMemcached({ memoryMb: 512 });
  pinProcess(memcached.pid, opts.cpu);
  const prefix = await mkdtemp(join(tmpdir(), 'memfront-bench-nginx-'));
  const port = await freePort();
  const conf = join(prefix, 'nginx.conf');
  await writeFile(conf, nginxConfig({ prefix, port, backendPort, memcachedPort: memcached.port, loadModules: s.loadModules }));
  const child = pinnedSpawn(opts.cpu, s.bin, ['-p', prefix, '-c', conf, '-e', join(prefix, 'error.log')], { stdio: ['ignore', 'pipe', 'pipe'] });
  let tail = '';
  const keep = (d: Buffer) => (tail = (tail + d.toString()).slice(-4000));
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const close = async () => {
    // SIGTERM is nginx's fast shutdown: master and worker exit.
    await stopChild(child, 3000);
    await memcached.close();
    await rm(prefix, { recursive: true, force: true });
  };
  try {
    await waitForPort('127.0.0.1', port, { child, name: 'nginx', timeoutMs: 10_000 });
  } catch (err) {
    await close();
    throw new Error(`${(err as Error).message}\n${tail}`, { cause: err });
  }
  return {
    id: 'nginx-srcache',
    label: 'nginx srcache+memc',
    url: `http://127.0.0.1:${port}`,
    pid: child.pid ?? -1,
    sampleChildren: true,
    companionPids: [memcached.pid],
    staleWhileRevalidateS: 0,
    defaultTtlS: NGINX_DEFAULT_TTL_S,
    output: () => tail,
    close,
  };
}
